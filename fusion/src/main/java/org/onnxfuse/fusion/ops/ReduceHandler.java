package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.function.Function;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * ReduceMean or ReduceSum over axes that are not the neurons': pooling over tokens before a
 * transformer's head ({@code x.mean(dim=1)} on [N, S, D], or the sum of masked mean pooling,
 * {@code (h * mask[..., None]).sum(1)}) or over spatial positions. It keeps the neurons; with
 * keepdims = 0 the axes before theirs that it removes move them forward. The axes come from the
 * attribute (ReduceMean before opset 18, ReduceSum before 13) or a constant second input. On data
 * before the first level (a mask's count of kept tokens, {@code mask.sum(1)}) the same shape rule
 * applies ({@link ParameterFreeOps}).
 */
public final class ReduceHandler implements OpHandler {
    private final String opType;
    private final String verb;

    private ReduceHandler(String opType, String verb) {
        this.opType = opType;
        this.verb = verb;
    }

    static List<ReduceHandler> all() {
        return List.of(new ReduceHandler("ReduceMean", "averages"), new ReduceHandler("ReduceSum", "sums"));
    }

    @Override
    public String opType() {
        return opType;
    }

    @Override
    public OpRole role() {
        return OpRole.POOLING;
    }

    @Override
    public String displayName() {
        return opType + " (not over the neurons)";
    }

    @Override
    public List<Dim> outputShape(Node node, List<Dim> input, GraphView graph) {
        return reducedShape(node, input, graph, verb);
    }

    /** The shape {@code node} (a ReduceMean or ReduceSum) reduces {@code input} to; never over the batch axis. */
    static List<Dim> reducedShape(Node node, List<Dim> input, GraphView graph) {
        return reducedShape(node, input, graph, "reduces");
    }

    private static List<Dim> reducedShape(Node node, List<Dim> input, GraphView graph, String verb) {
        long[] axes = axes(node, input.size(), graph);
        boolean keep = node.longAttribute("keepdims", 1) != 0;
        List<Dim> out = new ArrayList<>();
        for (int i = 0; i < input.size(); i++) {
            boolean reduced = contains(axes, i);
            if (reduced && i == 0) {
                throw Shapes.unsupported(node, verb + " over the batch axis");
            }
            if (!reduced) {
                out.add(input.get(i));
            } else if (keep) {
                out.add(Dim.of(1));
            }
        }
        return out;
    }

    @Override
    public void requireNeuronAxis(Node node, int neuronAxis, int rank, GraphView graph) {
        if (contains(axes(node, rank, graph), neuronAxis)) {
            throw Shapes.unsupported(node, verb + " over axis " + neuronAxis + ", which holds the neurons; it would"
                    + " mix them");
        }
    }

    /** The reduced axes before the neurons' move them forward when keepdims = 0. */
    @Override
    public OptionalInt neuronAxisAfter(Node node, int neuronAxis, int rank, GraphView graph) {
        if (node.longAttribute("keepdims", 1) != 0) {
            return OptionalInt.of(neuronAxis);
        }
        long removed = Arrays.stream(axes(node, rank, graph)).filter(a -> a < neuronAxis).count();
        return OptionalInt.of(neuronAxis - (int) removed);
    }

    @Override
    public Map<String, String> signature(Node node, GraphView graph) {
        return Map.of("axes", Arrays.toString(rawAxes(node, graph::constant)), "keepdims",
                Long.toString(node.longAttribute("keepdims", 1)));
    }

    /** The reduced axes of an input of rank {@code rank}, counted from 0, sorted. */
    public static long[] axes(Node node, int rank, GraphView graph) {
        return axes(node, rank, graph::constant);
    }

    /** As {@link #axes(Node, int, GraphView)}, with the constants read through {@code constants} (a backward pass's). */
    public static long[] axes(Node node, int rank, Function<String, Optional<Tensor>> constants) {
        long[] raw = rawAxes(node, constants);
        if (raw.length == 0) {
            throw Shapes.unsupported(node, "reduces every axis (no axes given)");
        }
        long[] out = new long[raw.length];
        for (int i = 0; i < raw.length; i++) {
            out[i] = raw[i] < 0 ? raw[i] + rank : raw[i];
            if (out[i] < 0 || out[i] >= rank) {
                throw Shapes.unsupported(node, "reduces axis " + raw[i] + " of a rank-" + rank + " input");
            }
        }
        Arrays.sort(out);
        return out;
    }

    private static long[] rawAxes(Node node, Function<String, Optional<Tensor>> constants) {
        if (node.inputs().size() > 1 && !node.inputs().get(1).isEmpty()) {
            return constants.apply(node.inputs().get(1)).map(Tensor::toLongs).orElseThrow(() -> Shapes.unsupported(
                    node, "takes its axes from a computed value"));
        }
        return node.longsAttribute("axes", new long[0]);
    }

    private static boolean contains(long[] axes, long axis) {
        return Arrays.stream(axes).anyMatch(a -> a == axis);
    }
}
