package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * Add, Sub, Mul or Div of the activation and a constant, such as input normalisation written into
 * the model ((x - mean) / std) or a scalar scale. The constant must broadcast to the activation
 * without changing its shape. A constant with more than one element treats positions differently,
 * which is right on the model input but not between levels, where neurons are merged; the planner
 * allows it only before the first level ({@link #isPerElement}).
 *
 * <p>Add, Sub and Mul of two activations are joins ({@link NeuronFlow#TIES}): a residual Add, or a
 * gate x * g(z) whose second operand broadcasts over the positions (squeeze-excitation). Their
 * operands' neuron axes are tied into one order.
 *
 * <p>Mul and Div of the activation by a value computed from the model inputs alone keep the neurons
 * when that value has size 1 on the neuron axis, or was expanded there from size 1 to the activation's size
 * ({@link #shapeWithInputData}): masked mean pooling's mask over the tokens and its count of kept tokens.
 */
public final class ConstantArithmetic implements OpHandler {
    private final String opType;

    ConstantArithmetic(String opType) {
        this.opType = opType;
    }

    static List<ConstantArithmetic> all() {
        return List.of(new ConstantArithmetic("Add"), new ConstantArithmetic("Sub"), new ConstantArithmetic("Mul"),
                new ConstantArithmetic("Div"));
    }

    @Override
    public String opType() {
        return opType;
    }

    @Override
    public OpRole role() {
        return OpRole.ELEMENTWISE;
    }

    @Override
    public String displayName() {
        return opType + " (with a constant)";
    }

    /** The activation may be either operand, except that it must be the dividend of a Div. */
    @Override
    public int dataInput(Node node, GraphView graph) {
        if (node.inputs().size() == 2 && !opType.equals("Div") && graph.isConstant(node.inputs().get(0))
                && !graph.isConstant(node.inputs().get(1))) {
            return 1;
        }
        return 0;
    }

    @Override
    public NeuronFlow neuronFlow(Node node, GraphView graph) {
        return node.inputs().size() == 2 && !graph.isConstant(node.inputs().get(0))
                && !graph.isConstant(node.inputs().get(1)) ? NeuronFlow.TIES : NeuronFlow.PRESERVES;
    }

    @Override
    public List<Integer> joinedInputs(Node node, GraphView graph) {
        return neuronFlow(node, graph) == NeuronFlow.TIES ? List.of(0, 1) : List.of(dataInput(node, graph));
    }

    /**
     * Both operands' shape where they agree; an axis of size 1 in one operand broadcasts over the
     * other's positions, but never over the neuron axis (both operands must hold every neuron).
     */
    @Override
    public List<Dim> joinedShape(Node node, List<List<Dim>> inputs, int neuronAxis, GraphView graph) {
        if (opType.equals("Div")) {
            throw Shapes.unsupported(node, "it divides one activation by another; joins of two activations are"
                    + " Add, Sub and Mul");
        }
        List<Dim> a = inputs.get(0);
        List<Dim> b = inputs.get(1);
        if (a.size() != b.size()) {
            throw Shapes.unsupported(node, "its operands have shapes " + Shapes.format(a) + " and "
                    + Shapes.format(b) + " of different rank");
        }
        List<Dim> out = new ArrayList<>();
        for (int i = 0; i < a.size(); i++) {
            Dim x = a.get(i);
            Dim y = b.get(i);
            boolean xOne = x.isFixed() && x.value() == 1;
            boolean yOne = y.isFixed() && y.value() == 1;
            if (Shapes.compatible(x, y) && xOne == yOne) {
                out.add(x.isFixed() ? x : y);
            } else if (i != neuronAxis && i != 0 && (xOne || yOne)) {
                out.add(xOne ? y : x);
            } else {
                throw Shapes.unsupported(node, "its operands of shapes " + Shapes.format(a) + " and "
                        + Shapes.format(b) + " differ on axis " + i + (i == neuronAxis ? ", the neuron axis" : "")
                        + "; a join needs equal shapes, or size 1 on a position axis of one operand");
            }
        }
        return out;
    }

    /**
     * Mul, or Div with the activation as the dividend, by a value computed from the model inputs alone,
     * such as masked mean pooling's {@code h * mask[..., None]} (a mask [batch, tokens, 1]) and its division
     * by the count of kept tokens ([batch, 1]): the value must have size 1 on the neuron axis, or there be
     * the same along it because an Expand broadcast it from size 1 to an activation's size (sentence-transformers'
     * {@code attention_mask.unsqueeze(-1).expand(h.size())} and its sum, as wide as the neurons in the fused model
     * too), so that it scales every neuron of a position alike, and broadcast to the activation without changing
     * its shape.
     * It may vary along the batch and the positions. Add and Sub take no such value.
     */
    @Override
    public Optional<List<Dim>> shapeWithInputData(Node node, int activationInput, List<Dim> activation,
                                                  int neuronAxis, List<InputData> data, GraphView graph) {
        boolean mul = opType.equals("Mul");
        if (!mul && !opType.equals("Div") || node.inputs().size() != 2 || data.size() != 1) {
            return Optional.empty();
        }
        InputData d = data.get(0);
        if (!mul && activationInput != 0) {
            throw Shapes.unsupported(node, "divides " + d.described() + " by the activations; only the activations"
                    + " may be divided by a value computed from the model inputs");
        }
        String what = (mul ? "multiplies" : "divides") + " the activations " + Shapes.format(activation)
                + " by " + d.described() + " " + Shapes.format(d.shape());
        List<Dim> s = d.shape();
        if (s.size() > activation.size()) {
            throw Shapes.unsupported(node, what + ", which has more axes than they have");
        }
        int lead = activation.size() - s.size();
        for (int i = lead; i < activation.size(); i++) {
            Dim x = activation.get(i);
            Dim y = s.get(i - lead);
            boolean one = y.isFixed() && y.value() == 1;
            boolean alike = d.uniform().contains(i - lead) && y.equals(x);
            if (i == neuronAxis && !one && !alike) {
                throw Shapes.unsupported(node, what + ", which has " + y + " values along axis " + i + ", the neuron"
                        + " axis: a value computed from the model inputs alone cannot follow the fused neurons, so"
                        + " after a level it may only scale every neuron alike (size 1 on the neuron axis, such as"
                        + " a mask [batch, tokens, 1], or expanded there from size 1 to the activation's own size,"
                        + " mask.unsqueeze(-1).expand(h.size()); an expand to a constant width cannot follow a fused"
                        + " width)");
            }
            if (!one && (!Shapes.compatible(x, y) || x.isFixed() && x.value() == 1)) {
                throw Shapes.unsupported(node, what + ", which does not broadcast to them without changing their"
                        + " shape (axis " + i + ")");
            }
        }
        return Optional.of(activation);
    }

    @Override
    public List<Dim> outputShape(Node node, List<Dim> input, GraphView graph) {
        Tensor c = constantOperand(node, graph);
        long[] dims = c.dims();
        if (dims.length > input.size()) {
            throw Shapes.unsupported(node, "its constant of shape " + Arrays.toString(dims) + " has more axes than the"
                    + " activations " + Shapes.format(input));
        }
        for (int i = 0; i < dims.length; i++) {
            Dim d = input.get(input.size() - dims.length + i);
            if (dims[i] != 1 && !(d.isFixed() && d.value() == dims[i])) {
                throw Shapes.unsupported(node, "its constant of shape " + Arrays.toString(dims) + " does not broadcast"
                        + " to the activations " + Shapes.format(input) + " without changing their shape");
            }
        }
        return input;
    }

    @Override
    public Map<String, String> signature(Node node, GraphView graph) {
        if (neuronFlow(node, graph) == NeuronFlow.TIES) {
            return Map.of();
        }
        Tensor c = constantOperand(node, graph);
        float[] v = c.toFloats();
        String values = v.length <= 16 ? Arrays.toString(v) : v.length + " values, hash " + Arrays.hashCode(v);
        return Map.of("constant", values, "shape", Arrays.toString(c.dims()));
    }

    /** The signature of an op whose constant holds one value per neuron: parents' values differ, only the form agrees. */
    public static final Map<String, String> PER_NEURON_SIGNATURE = Map.of("constant", "one per neuron");

    /**
     * Whether the constant varies along the neurons of activations whose neurons are on
     * {@code neuronAxis} of {@code rank} axes: more than one element, all of the neurons on its
     * axis under theirs (aligned from the last axis, as broadcasting aligns them), and size 1 on
     * the batch axis. It may vary along positions too: a layer scale (gamma of shape [C, 1, 1] or
     * [D]), a per-channel shift or a position embedding ([1, S, D]) is such a constant.
     */
    public static boolean isPerNeuron(Node node, GraphView graph, int neuronAxis, int rank) {
        long[] dims = constantOperand(node, graph).dims();
        int neuronDim = neuronAxis - (rank - dims.length);
        if (Tensor.elementCount(dims) <= 1 || dims.length > rank || neuronDim < 0 || dims[neuronDim] == 1) {
            return false;
        }
        return dims.length < rank || dims[0] == 1;
    }

    /** Whether the constant has more than one element (so it is not the same for every neuron). */
    public static boolean isPerElement(Node node, GraphView graph) {
        return constantOperand(node, graph).elementCount() > 1;
    }

    private static Tensor constantOperand(Node node, GraphView graph) {
        if (node.inputs().size() != 2) {
            throw Shapes.unsupported(node, "it has " + node.inputs().size() + " inputs; expected the activations and a"
                    + " constant");
        }
        Optional<Tensor> a = graph.constant(node.inputs().get(0));
        Optional<Tensor> b = graph.constant(node.inputs().get(1));
        if (a.isPresent() == b.isPresent()) {
            throw Shapes.unsupported(node, a.isPresent() ? "both operands are constants"
                    : "both operands are activations");
        }
        return a.orElseGet(b::get);
    }
}
