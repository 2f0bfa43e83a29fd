package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * Gather of one constant position along an axis that is neither the batch's nor the neurons':
 * the class token before a transformer's head ({@code x[:, 0]} on [N, S, D]). A scalar index
 * removes the axis (the neurons after it move forward); an index of shape [1] keeps it with size 1.
 */
public final class GatherHandler implements OpHandler {
    @Override
    public String opType() {
        return "Gather";
    }

    @Override
    public OpRole role() {
        return OpRole.POOLING;
    }

    @Override
    public String displayName() {
        return "Gather (one constant position, not of the neurons)";
    }

    @Override
    public List<Dim> outputShape(Node node, List<Dim> input, GraphView graph) {
        int axis = axis(node, input.size());
        if (axis == 0) {
            throw Shapes.unsupported(node, "gathers along the batch axis");
        }
        Tensor index = index(node, graph);
        long position = index.toLongs()[0];
        Dim size = input.get(axis);
        if (size.isFixed() && (position >= size.value() || position < -size.value())) {
            throw Shapes.unsupported(node, "gathers position " + position + " of an axis of " + size.value());
        }
        List<Dim> out = new ArrayList<>(input);
        if (index.dims().length == 0) {
            out.remove(axis);
        } else {
            out.set(axis, Dim.of(1));
        }
        return out;
    }

    @Override
    public void requireNeuronAxis(Node node, int neuronAxis, int rank, GraphView graph) {
        if (axis(node, rank) == neuronAxis) {
            throw Shapes.unsupported(node, "gathers along axis " + neuronAxis + ", which holds the neurons; the fused"
                    + " neurons are groups of the parents', so picking some of them is not defined");
        }
    }

    /** A scalar index removes its axis: the neurons after it move forward. */
    @Override
    public OptionalInt neuronAxisAfter(Node node, int neuronAxis, int rank, GraphView graph) {
        return OptionalInt.of(removesAxis(node, graph) && axis(node, rank) < neuronAxis ? neuronAxis - 1 : neuronAxis);
    }

    @Override
    public Map<String, String> signature(Node node, GraphView graph) {
        return Map.of("axis", Long.toString(node.longAttribute("axis", 0)), "index",
                Long.toString(index(node, graph).toLongs()[0]));
    }

    /** The gathered axis, counted from 0, of an input of rank {@code rank}. */
    public static int axis(Node node, int rank) {
        long axis = node.longAttribute("axis", 0);
        return Math.toIntExact(axis < 0 ? axis + rank : axis);
    }

    /** Whether the index is a scalar (the axis is removed). */
    public static boolean removesAxis(Node node, GraphView graph) {
        return index(node, graph).dims().length == 0;
    }

    private static Tensor index(Node node, GraphView graph) {
        if (node.inputs().size() != 2) {
            throw Shapes.unsupported(node, "has " + node.inputs().size() + " inputs; expected data and indices");
        }
        Tensor index = graph.constant(node.inputs().get(1)).orElseThrow(() -> Shapes.unsupported(node,
                "gathers at computed positions; only one constant position is supported"));
        if (index.dims().length > 1 || Tensor.elementCount(index.dims()) != 1) {
            throw Shapes.unsupported(node, "gathers " + Tensor.elementCount(index.dims()) + " positions; only one"
                    + " constant position (a scalar or [1]) is supported");
        }
        return index;
    }
}
