package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

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

    /** starts, ends, axes (counted from 0) and steps of {@code n} for an input of rank {@code rank}. */
    private static long[][] bounds(Node n, GraphView g, int rank) {
        long[][] b = new long[4][];
        for (int i = 0; i < 4; i++) {
            int input = i + 1;
            if (input < n.inputs().size() && !n.inputs().get(input).isEmpty()) {
                String name = n.inputs().get(input);
                b[i] = g.constant(name).orElseThrow(() -> Shapes.unsupported(n, "takes its "
                        + List.of("starts", "ends", "axes", "steps").get(input - 1) + " from " + g.origin(name)
                        + "; a Slice of activations needs constant bounds")).toLongs();
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
            long a = b[2][i] < 0 ? b[2][i] + rank : b[2][i];
            if (a < 0 || a >= rank) {
                throw Shapes.invalid(n, "slices axis " + b[2][i] + " of an input of rank " + rank);
            }
            if (b[3][i] == 0) {
                throw Shapes.invalid(n, "has a step of 0");
            }
            b[2][i] = a;
        }
        return b;
    }

    @Override
    public List<Dim> outputShape(Node n, List<Dim> in, GraphView g) {
        long[][] b = bounds(n, g, in.size());
        List<Dim> out = new ArrayList<>(in);
        for (int i = 0; i < b[0].length; i++) {
            int axis = (int) b[2][i];
            if (axis == 0) {
                throw Shapes.unsupported(n, "slices axis 0 (the batch); only positions may be sliced");
            }
            Dim d = in.get(axis);
            out.set(axis, d.isFixed() ? Dim.of(length(d.value(), b[0][i], b[1][i], b[3][i])) : Dim.UNKNOWN);
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
        long[][] b = bounds(node, graph, rank);
        for (long axis : b[2]) {
            if (axis == neuronAxis) {
                throw Shapes.unsupported(node, "slices axis " + neuronAxis + ", which holds the neurons; the fused"
                        + " neurons are groups of the parents', so keeping some of them is not defined");
            }
        }
    }

    @Override
    public Map<String, String> signature(Node n, GraphView g) {
        int rank = Integer.MAX_VALUE / 2;
        long[][] b = bounds(n, g, rank);
        return Map.of("starts", Arrays.toString(b[0]), "ends", Arrays.toString(b[1]), "axes",
                Arrays.toString(b[2]), "steps", Arrays.toString(b[3]));
    }
}
