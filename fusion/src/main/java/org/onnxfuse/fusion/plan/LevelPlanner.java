package org.onnxfuse.fusion.plan;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.onnxfuse.fusion.ops.AffineGeometry;
import org.onnxfuse.fusion.ops.AffineHandler;
import org.onnxfuse.fusion.ops.ConstantArithmetic;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.fusion.ops.OpHandler;
import org.onnxfuse.fusion.ops.OpPattern;
import org.onnxfuse.fusion.ops.OpRegistry;
import org.onnxfuse.fusion.ops.OpRole;
import org.onnxfuse.fusion.ops.PatternMatch;
import org.onnxfuse.fusion.ops.ShapeComputation;
import org.onnxfuse.fusion.ops.Shapes;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.OpsetImport;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Plans the levels of a sequential network: walks the one chain of ops from the model input
 * to its output, ends a level at every affine op (folding a BatchNormalization right after it)
 * and propagates shapes from the input's declared shape so every cut has its shape, neuron axis
 * and width. Anything the walk cannot place (an unknown op, a branch, an affine op with computed
 * weights) is an {@link UnsupportedOpException} naming the node.
 */
public final class LevelPlanner {
    private final OpRegistry registry;
    private final GraphView view;
    private final Graph graph;
    private final Map<String, Long> opsets = new HashMap<>();
    private final Set<Node> placed = Collections.newSetFromMap(new IdentityHashMap<>());

    private LevelPlanner(Model model, OpRegistry registry) {
        this.registry = registry;
        this.graph = model.graph();
        this.view = new GraphView(graph);
        for (OpsetImport o : model.opsetImports()) {
            opsets.put(o.isDefaultDomain() ? "" : o.domain(), o.version());
        }
    }

    /** The plan of {@code model} with the standard op registry. */
    public static LevelPlan plan(Model model) {
        return plan(model, OpRegistry.standard());
    }

    public static LevelPlan plan(Model model, OpRegistry registry) {
        return new LevelPlanner(model, registry).plan();
    }

    /** An affine op with its bias Add and folded norm, as found on the walk. */
    private record AffineStep(Node affine, Node biasAdd, Node norm, List<Node> constants, String input,
                              List<Dim> inputShape, String cut, List<Dim> cutShape, int neuronAxis, long width,
                              long fanIn, boolean hasBias, Map<String, String> signature) {
    }

    private LevelPlan plan() {
        List<ValueInfo> inputs = graph.feedInputs();
        if (inputs.size() != 1) {
            throw structure("the model has " + inputs.size() + " inputs (" + names(inputs) + "); the level planner"
                    + " handles models with exactly one input");
        }
        if (graph.outputs().size() != 1) {
            throw structure("the model has " + graph.outputs().size() + " outputs (" + names(graph.outputs())
                    + "); the level planner handles models with exactly one output");
        }
        ValueInfo in = inputs.get(0);
        String output = graph.outputs().get(0).name();
        if (in.tensorType() == null || !in.tensorType().hasShape()) {
            throw structure("model input '" + in.name() + "' has no declared shape; the planner needs at least its"
                    + " rank (export with a sample input of the right shape)");
        }
        List<Dim> inputShape = in.tensorType().shape();

        List<Object> steps = new ArrayList<>();
        String value = in.name();
        List<Dim> shape = inputShape;
        while (!value.equals(output)) {
            // Shape nodes read only the activation's shape: they belong to the shape computation
            // of the Reshape that uses it (torch's x.view(x.size(0), -1)), not to the chain
            String current = value;
            List<Node> readers = view.consumers(value).stream().filter(n -> !isShapeOf(n, current)).toList();
            if (readers.isEmpty()) {
                throw structure("value '" + value + "' is read by no node and is not the model output '" + output
                        + "'; the level planner handles one chain of ops from input to output");
            }
            Optional<PatternMatch> match = matchPattern(value);
            if (match.isPresent()) {
                PatternMatch m = match.get();
                Node main = m.nodes().stream().filter(n -> !GraphView.isConstantNode(n)).findFirst().orElseThrow();
                steps.add(new LevelOp(m.opType(), m.role(), main, m.nodes(), true, value, m.output(), shape,
                        m.signature()));
                placed.addAll(m.nodes());
                value = m.output();
                continue;
            }
            if (readers.size() > 1) {
                throw structure("value '" + value + "' is read by " + readers.size() + " nodes ("
                        + readers.stream().map(GraphView::quote).collect(Collectors.joining(", "))
                        + "); the level planner handles sequential networks, where each value feeds one op");
            }
            Node node = readers.get(0);
            OpHandler handler = registry.find(node, opset(node)).orElseThrow(() -> registry.unsupported(node, null));
            checkInputs(node, handler, value);
            switch (handler.role()) {
                case AFFINE -> {
                    AffineStep step = affine(node, (AffineHandler) handler, value, shape);
                    steps.add(step);
                    value = step.cut();
                    shape = step.cutShape();
                }
                case FOLDABLE_NORM -> throw new UnsupportedOpException(ErrorCode.UNSUPPORTED_OP, "node "
                        + GraphView.quote(node) + " cannot be placed in a level: a BatchNormalization is folded into"
                        + " the Conv, Gemm or MatMul(+Add) right before it, and '" + value + "' comes from "
                        + view.origin(value) + " (put the normalisation right after an affine op)");
                case CONSTANT -> throw new IllegalStateException("Constant node on the activation path: " + node);
                default -> {
                    if (handler instanceof ConstantArithmetic && ConstantArithmetic.isPerElement(node, view)
                            && steps.stream().anyMatch(AffineStep.class::isInstance)) {
                        throw registry.unsupported(node, "its constant has more than one element and it comes after"
                                + " a level: the fused neurons are groups of the parents' neurons, so a per-neuron"
                                + " constant cannot follow them (constants with one element, or per-element"
                                + " constants on the model input before the first level, are fine)");
                    }
                    List<Dim> out = handler.outputShape(node, shape, view);
                    List<Node> nodes = new ArrayList<>(shapeComputations(node, value));
                    nodes.addAll(view.privateConstants(List.of(node)));
                    nodes.add(node);
                    steps.add(new LevelOp(handler.opType(), handler.role(), node, nodes, false, value,
                            node.outputs().get(0), out, handler.signature(node, view)));
                    placed.addAll(nodes);
                    value = node.outputs().get(0);
                    shape = out;
                }
            }
        }
        checkEverythingPlaced(in.name(), output);
        return assemble(in.name(), inputShape, output, shape, steps);
    }

    private static boolean isShapeOf(Node n, String value) {
        return n.isDefaultDomain() && n.opType().equals("Shape") && n.inputs().size() == 1
                && n.inputs().get(0).equals(value);
    }

    /** The nodes computing {@code node}'s non-constant inputs from the shape of {@code value}. */
    private List<Node> shapeComputations(Node node, String value) {
        List<Node> out = new ArrayList<>();
        for (String in : node.inputs()) {
            if (!in.equals(value) && !view.isConstant(in)) {
                ShapeComputation.of(in, value, view).ifPresent(c -> out.addAll(c.nodes()));
            }
        }
        return out;
    }

    private Optional<PatternMatch> matchPattern(String value) {
        for (OpPattern p : registry.patterns()) {
            Optional<PatternMatch> m = p.match(value, view);
            if (m.isPresent()) {
                return m;
            }
        }
        return Optional.empty();
    }

    private long opset(Node node) {
        return opsets.getOrDefault(node.isDefaultDomain() ? "" : node.domain(), -1L);
    }

    /** The activation enters at the handler's data input only; all other inputs are constants; extra outputs unused. */
    private void checkInputs(Node node, OpHandler handler, String value) {
        List<String> ins = node.inputs();
        int data = handler.dataInput(node, view);
        if (ins.stream().filter(value::equals).count() > 1) {
            throw registry.unsupported(node, "it reads the activations '" + value + "' more than once");
        }
        if (data >= ins.size() || !ins.get(data).equals(value)) {
            throw registry.unsupported(node, "it reads the activations '" + value + "' as input "
                    + ins.indexOf(value) + " where input " + data + " is expected");
        }
        for (int i = 0; i < ins.size(); i++) {
            if (i != data && !view.isConstant(ins.get(i))
                    && ShapeComputation.of(ins.get(i), value, view).isEmpty()) {
                throw structure("node " + GraphView.quote(node) + " reads input " + i + " '" + ins.get(i) + "' from "
                        + view.origin(ins.get(i)) + "; in a sequential network every input other than the"
                        + " activations is an initializer or a Constant");
            }
        }
        for (int i = 1; i < node.outputs().size(); i++) {
            if (view.isUsed(node.outputs().get(i))) {
                throw registry.unsupported(node, "its output " + i + " '" + node.outputs().get(i)
                        + "' is used; only output 0 may be");
            }
        }
    }

    private AffineStep affine(Node node, AffineHandler handler, String value, List<Dim> inputShape) {
        AffineGeometry g = handler.geometry(node, view);
        List<Dim> shape = handler.outputShape(node, inputShape, view);
        List<Node> owned = new ArrayList<>(List.of(node));
        String cut = node.outputs().get(0);
        Node biasAdd = null;
        if (handler.takesBiasAdd()) {
            Node add = soleReader(cut);
            if (add != null && handler.isBiasAdd(add, cut, g.width(), view)) {
                biasAdd = add;
                owned.add(add);
                cut = add.outputs().get(0);
            }
        }
        int neuronAxis = handler.neuronAxis(shape.size());
        Node norm = null;
        Node next = soleReader(cut);
        if (next != null && next.isDefaultDomain() && next.opType().equals("BatchNormalization")
                && next.inputs().get(0).equals(cut)) {
            OpHandler bn = registry.find(next, opset(next)).orElseThrow(() -> registry.unsupported(next, null));
            checkInputs(next, bn, cut);
            if (next.inputs().size() != 5) {
                throw registry.unsupported(next, "it has " + next.inputs().size()
                        + " inputs; expected X, scale, B, mean and var");
            }
            if (neuronAxis != 1) {
                throw registry.unsupported(next, "it normalises axis 1 but the neuron axis of "
                        + GraphView.quote(node) + "'s output " + Shapes.format(shape) + " is " + neuronAxis
                        + ", so it cannot be folded");
            }
            shape = bn.outputShape(next, shape, view);
            owned.add(next);
            norm = next;
            cut = next.outputs().get(0);
        }
        List<Node> constants = view.privateConstants(owned);
        placed.addAll(owned);
        placed.addAll(constants);
        boolean hasBias = g.hasBias() || biasAdd != null || norm != null;
        return new AffineStep(node, biasAdd, norm, constants, value, inputShape, cut, shape, neuronAxis, g.width(),
                g.fanIn(hasBias), hasBias, handler.signature(node, view));
    }

    /** The only node reading {@code value}, when {@code value} is not also a model output. */
    private Node soleReader(String value) {
        List<Node> readers = view.consumers(value);
        return readers.size() == 1 && !view.isGraphOutput(value) ? readers.get(0) : null;
    }

    private void checkEverythingPlaced(String input, String output) {
        for (Node n : graph.topologicalOrder()) {
            if (!placed.contains(n) && !GraphView.isConstantNode(n)) {
                throw structure("node " + GraphView.quote(n) + " is not on the chain of ops from input '" + input
                        + "' to output '" + output + "'; the level planner handles sequential networks only");
            }
        }
    }

    private LevelPlan assemble(String input, List<Dim> inputShape, String output, List<Dim> outputShape,
                               List<Object> steps) {
        int lastAffine = -1;
        for (int i = 0; i < steps.size(); i++) {
            if (steps.get(i) instanceof AffineStep) {
                lastAffine = i;
            }
        }
        if (lastAffine < 0) {
            throw structure("the model has no Gemm, MatMul or Conv with initializer weights between input '" + input
                    + "' and output '" + output + "', so it has no level to fuse");
        }
        List<Level> levels = new ArrayList<>();
        List<LevelOp> pending = new ArrayList<>();
        String from = input;
        for (int i = 0; i <= lastAffine; i++) {
            Object s = steps.get(i);
            if (s instanceof LevelOp op) {
                if (op.role() == OpRole.OUTPUT_HEAD) {
                    throw registry.unsupported(op.node(), op.opType() + " is allowed only after the last level");
                }
                pending.add(op);
                continue;
            }
            AffineStep a = (AffineStep) s;
            levels.add(new Level(levels.size() + 1, pending, a.affine(), a.biasAdd(), a.norm(), a.constants(), from,
                    a.input(), a.inputShape(), a.cut(), a.cutShape(), a.neuronAxis(), a.width(), a.fanIn(),
                    a.hasBias(), a.signature(), i == lastAffine));
            pending = new ArrayList<>();
            from = a.cut();
        }
        List<LevelOp> trailing = new ArrayList<>();
        for (int i = lastAffine + 1; i < steps.size(); i++) {
            trailing.add((LevelOp) steps.get(i));
        }
        return new LevelPlan(input, inputShape, output, outputShape, levels, trailing);
    }

    private static String names(List<ValueInfo> values) {
        return values.stream().map(v -> "'" + v.name() + "'").collect(Collectors.joining(", "));
    }

    private static UnsupportedOpException structure(String message) {
        return new UnsupportedOpException(ErrorCode.UNSUPPORTED_OP, message);
    }
}
