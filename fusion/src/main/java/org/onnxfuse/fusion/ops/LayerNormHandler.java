package org.onnxfuse.fusion.ops;

import java.util.List;
import java.util.Map;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/**
 * LayerNormalization (opset 17): normalises the axes from {@code axis} to the last, then scales
 * and shifts per element of those axes. After a level the neurons must be the only normalised
 * axis (the last one), so the op keeps them and its Scale and B are per-neuron parameters; before
 * the first level it may normalise any trailing axes of the input, whose features are not fused.
 */
final class LayerNormHandler implements OpHandler {
    @Override
    public String opType() {
        return "LayerNormalization";
    }

    @Override
    public long sinceOpset() {
        return 17;
    }

    @Override
    public OpRole role() {
        return OpRole.NEURON_NORM;
    }

    @Override
    public String displayName() {
        return "LayerNormalization (over the neuron axis)";
    }

    @Override
    public List<Dim> outputShape(Node node, List<Dim> input, GraphView graph) {
        if (node.longAttribute("stash_type", 1) != 1) {
            throw Shapes.unsupported(node, "has stash_type " + node.longAttribute("stash_type", 1)
                    + "; only float32 statistics (stash_type 1) are supported");
        }
        int axis = normalisedFrom(node, input.size());
        if (axis < 0 || axis >= input.size()) {
            throw Shapes.unsupported(node, "normalises from axis " + node.longAttribute("axis", -1) + " of a rank-"
                    + input.size() + " input");
        }
        return input;
    }

    @Override
    public void requireNeuronAxis(Node node, int neuronAxis, int rank, GraphView graph) {
        if (neuronAxis != rank - 1 || normalisedFrom(node, rank) != rank - 1) {
            throw Shapes.unsupported(node, "it normalises axes " + normalisedFrom(node, rank) + " to " + (rank - 1)
                    + " of a rank-" + rank + " value whose neurons are on axis " + neuronAxis + "; after a level a"
                    + " LayerNormalization must normalise the neurons alone, on the last axis");
        }
    }

    /** The first normalised axis, counted from 0, of an input of rank {@code rank}. */
    private static int normalisedFrom(Node node, int rank) {
        long axis = node.longAttribute("axis", -1);
        return Math.toIntExact(axis < 0 ? axis + rank : axis);
    }

    @Override
    public Map<String, String> signature(Node node, GraphView graph) {
        return Map.of("axis", Long.toString(node.longAttribute("axis", -1)),
                "epsilon", Float.toString(node.floatAttribute("epsilon", 1e-5f)));
    }
}
