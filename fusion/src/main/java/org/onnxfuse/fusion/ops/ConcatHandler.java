package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/**
 * Concat of activations along their neuron axis (DenseNet layers, SqueezeNet's fire modules,
 * Inception-style branches): the output's neurons are the inputs' neurons stacked, each input's
 * at a fixed offset, so every input keeps its own neuron space ({@link NeuronFlow#STACKS}).
 * Along a position axis (Swin's cyclic shift, torch.roll as two Slices and a Concat) every input
 * holds the same neurons, so their spaces are tied instead ({@link #alongPositions}). Concat along
 * the batch, or of constants with activations, is refused.
 */
public final class ConcatHandler implements OpHandler {
    @Override
    public String opType() {
        return "Concat";
    }

    @Override
    public OpRole role() {
        return OpRole.JOIN;
    }

    @Override
    public String displayName() {
        return "Concat (of activations, along the neurons)";
    }

    @Override
    public NeuronFlow neuronFlow(Node node, GraphView graph) {
        return NeuronFlow.STACKS;
    }

    @Override
    public List<Integer> joinedInputs(Node node, GraphView graph) {
        List<Integer> all = IntStream.range(0, node.inputs().size()).boxed().toList();
        for (int i : all) {
            if (graph.isConstant(node.inputs().get(i))) {
                throw Shapes.unsupported(node, "its input " + i + " '" + node.inputs().get(i) + "' is a constant;"
                        + " a Concat in a level stacks activations only");
            }
        }
        return all;
    }

    @Override
    public List<Dim> outputShape(Node node, List<Dim> input, GraphView graph) {
        return joinedShape(node, List.of(input), 1, graph);
    }

    @Override
    public List<Dim> joinedShape(Node node, List<List<Dim>> inputs, int neuronAxis, GraphView graph) {
        List<Dim> first = inputs.get(0);
        if (node.attribute("axis").isEmpty()) {
            throw Shapes.invalid(node, "has no axis attribute");
        }
        int axis = Shapes.axis(node, node.longAttribute("axis", 0), first.size(), false);
        if (axis == 0) {
            throw Shapes.unsupported(node, "it concatenates along axis 0 of " + Shapes.format(first) + ", the batch;"
                    + " concatenation along the neurons or along positions is supported");
        }
        long total = 0;
        boolean fixed = true;
        for (List<Dim> in : inputs) {
            if (in.size() != first.size()) {
                throw Shapes.invalid(node, "concatenates inputs of rank " + first.size() + " and " + in.size());
            }
            for (int i = 0; i < in.size(); i++) {
                if (i != axis && !Shapes.compatible(in.get(i), first.get(i))) {
                    throw Shapes.invalid(node, "concatenates " + Shapes.format(first) + " and " + Shapes.format(in)
                            + ", which differ on axis " + i);
                }
            }
            fixed &= in.get(axis).isFixed();
            total += in.get(axis).isFixed() ? in.get(axis).value() : 0;
        }
        List<Dim> out = new ArrayList<>(first);
        out.set(axis, fixed ? Dim.of(total) : Dim.UNKNOWN);
        return out;
    }

    /** Whether {@code node} concatenates along another axis than {@code neuronAxis} of inputs of rank {@code rank}. */
    public static boolean alongPositions(Node node, int neuronAxis, int rank) {
        return Shapes.axis(node, node.longAttribute("axis", 0), rank, false) != neuronAxis;
    }

    @Override
    public Map<String, String> signature(Node node, GraphView graph) {
        return Map.of("inputs", Integer.toString(node.inputs().size()), "axis",
                Long.toString(node.longAttribute("axis", 0)));
    }
}
