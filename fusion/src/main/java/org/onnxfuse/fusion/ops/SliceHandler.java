package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * Slice of positions with constant bounds: Swin's cyclic shift (torch.roll, exported as two
 * Slices and a Concat), the crop of its padding, patch merging's every other row and column. The
 * batch and the neurons are never sliced: the fused neurons are groups of the parents', so
 * keeping some of them is not defined.
 */
public final class SliceHandler implements OpHandler {
    @Override
    public String opType() {
        return "Slice";
    }

    @Override
    public long sinceOpset() {
        return 10;
    }

    @Override
    public OpRole role() {
        return OpRole.POOLING;
    }

    @Override
    public String displayName() {
        return "Slice (constant bounds, positions)";
    }

    /** A Slice's constant starts, ends, axes (counted from 0 where the rank is known) and steps, one per sliced axis. */
    public record Bounds(long[] starts, long[] ends, long[] axes, long[] steps) {
        public int count() {
            return starts.length;
        }
    }

    /**
     * The bounds of Slice {@code n}, its inputs' values from {@code constant}, for an input of rank
     * {@code rank} (negative: the axes as written).
     */
    public static Bounds bounds(Node n, Function<String, Optional<Tensor>> constant, int rank) {
        long[][] b = new long[4][];
        for (int i = 0; i < 4; i++) {
            int input = i + 1;
            if (input < n.inputs().size() && !n.inputs().get(input).isEmpty()) {
                String name = n.inputs().get(input);
                b[i] = constant.apply(name).orElseThrow(() -> Shapes.unsupported(n, "takes its "
                        + List.of("starts", "ends", "axes", "steps").get(input - 1) + " from a computed value '" + name
                        + "'; a Slice of activations needs constant bounds")).toLongs();
            }
        }
        if (b[0] == null || b[1] == null || b[0].length != b[1].length) {
            throw Shapes.invalid(n, "has starts and ends of different lengths or none");
        }
        int count = b[0].length;
        if (b[2] == null) {
            b[2] = new long[count];
            for (int i = 0; i < count; i++) {
                b[2][i] = i;
            }
        }
        if (b[3] == null) {
            b[3] = new long[count];
            Arrays.fill(b[3], 1);
        }
        if (b[2].length != count || b[3].length != count) {
            throw Shapes.invalid(n, "has " + count + " starts but " + b[2].length + " axes and " + b[3].length
                    + " steps");
        }
        for (int i = 0; i < count; i++) {
            if (b[3][i] == 0) {
                throw Shapes.invalid(n, "has a step of 0");
            }
            if (rank >= 0) {
                long a = b[2][i] < 0 ? b[2][i] + rank : b[2][i];
                if (a < 0 || a >= rank) {
                    throw Shapes.invalid(n, "slices axis " + b[2][i] + " of an input of rank " + rank);
                }
                b[2][i] = a;
            }
        }
        return new Bounds(b[0], b[1], b[2], b[3]);
    }

    private static Bounds bounds(Node n, GraphView g, int rank) {
        return bounds(n, g::constant, rank);
    }

    @Override
    public List<Dim> outputShape(Node n, List<Dim> in, GraphView g) {
        Bounds b = bounds(n, g, in.size());
        List<Dim> out = new ArrayList<>(in);
        for (int i = 0; i < b.count(); i++) {
            int axis = (int) b.axes()[i];
            if (axis == 0) {
                throw Shapes.unsupported(n, "slices axis 0 (the batch); only positions may be sliced");
            }
            Dim d = in.get(axis);
            out.set(axis, d.isFixed() ? Dim.of(length(d.value(), b.starts()[i], b.ends()[i], b.steps()[i]))
                    : Dim.UNKNOWN);
        }
        return out;
    }

    /** The number of elements ONNX's Slice keeps of an axis of {@code size}. */
    public static long length(long size, long start, long end, long step) {
        if (step > 0) {
            long s = clamp(start < 0 ? start + size : start, 0, size);
            long e = clamp(end < 0 ? end + size : end, 0, size);
            return Math.max(0, (e - s + step - 1) / step);
        }
        long s = clamp(start < 0 ? start + size : start, -1, size - 1);
        long e = clamp(end < 0 ? end + size : end, -1, size - 1);
        return Math.max(0, (s - e + (-step) - 1) / (-step));
    }

    private static long clamp(long v, long lo, long hi) {
        return Math.max(lo, Math.min(hi, v));
    }

    @Override
    public void requireNeuronAxis(Node node, int neuronAxis, int rank, GraphView graph) {
        for (long axis : bounds(node, graph, rank).axes()) {
            if (axis == neuronAxis) {
                throw Shapes.unsupported(node, "slices axis " + neuronAxis + ", which holds the neurons; the fused"
                        + " neurons are groups of the parents', so keeping some of them is not defined");
            }
        }
    }

    @Override
    public Map<String, String> signature(Node n, GraphView g) {
        Bounds b = bounds(n, g, -1);
        return Map.of("starts", Arrays.toString(b.starts()), "ends", Arrays.toString(b.ends()), "axes",
                Arrays.toString(b.axes()), "steps", Arrays.toString(b.steps()));
    }
}
