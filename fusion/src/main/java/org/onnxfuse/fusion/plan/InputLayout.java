package org.onnxfuse.fusion.plan;

import java.util.List;
import java.util.Optional;
import org.onnxfuse.onnx.ir.Dim;

/**
 * How the input features of a level's affine op line up with the neurons of the cut before it:
 * feature f = (o * width + n) * inner + i for neuron n, o in [0, outer), i in [0, inner). A
 * dense layer after a dense layer has outer = inner = 1; a Gemm after a Flatten of [N, C, H, W]
 * has outer 1 and inner H*W; after a Transpose to [N, H, W, C] and a Flatten, outer H*W and
 * inner 1 (channels last); a Conv has outer 1 and inner = its kernel size.
 */
public record InputLayout(long outer, long inner) {
    public InputLayout {
        if (outer < 1 || inner < 1) {
            throw new IllegalArgumentException("outer and inner must be >= 1, found " + outer + ", " + inner);
        }
    }

    /** Features per neuron. */
    public long featuresPerNeuron() {
        return outer * inner;
    }

    /** The feature index of neuron {@code neuron} of {@code width}, copy {@code copy} in [0, outer * inner). */
    public int feature(int neuron, int width, long copy) {
        long o = copy / inner;
        long i = copy % inner;
        return Math.toIntExact((o * width + neuron) * inner + i);
    }

    /**
     * The layout of {@code level}'s affine input over the neurons of {@code previous}'s cut,
     * followed through the level's ops (Transpose moves the neuron axis, Flatten or a Reshape to
     * [N, features] merges the axes), or empty when the ops mix the features in a way this
     * record cannot describe.
     */
    public static Optional<InputLayout> of(Level previous, Level level) {
        List<Dim> shape = previous.cutShape();
        int axis = previous.neuronAxis();
        InputLayout flat = null;
        for (LevelOp op : level.ops()) {
            List<Dim> out = op.outputShape();
            switch (op.opType()) {
                case "Transpose" -> {
                    if (flat != null) {
                        return Optional.empty();
                    }
                    long[] perm = op.node().longsAttribute("perm", null);
                    if (perm == null) {
                        perm = new long[shape.size()];
                        for (int j = 0; j < perm.length; j++) {
                            perm[j] = perm.length - 1 - j;
                        }
                    }
                    int moved = -1;
                    for (int j = 0; j < perm.length; j++) {
                        if (perm[j] == axis) {
                            moved = j;
                        }
                    }
                    if (moved < 0) {
                        return Optional.empty();
                    }
                    axis = moved;
                }
                case "Flatten", "Reshape" -> {
                    if (flat == null && shape.equals(out)) {
                        break; // a Reshape that changes nothing
                    }
                    if (flat != null || out.size() != 2) {
                        return Optional.empty();
                    }
                    Optional<Long> outer = product(shape, 1, axis);
                    Optional<Long> inner = product(shape, axis + 1, shape.size());
                    if (outer.isEmpty() || inner.isEmpty()) {
                        return Optional.empty();
                    }
                    flat = new InputLayout(outer.get(), inner.get());
                    axis = 1;
                }
                default -> {
                    if (out.size() != shape.size()) {
                        return Optional.empty();
                    }
                }
            }
            shape = out;
        }
        if (flat != null) {
            return Optional.of(flat);
        }
        int width = Math.toIntExact(previous.width());
        long features = level.fanIn() - (level.hasBias() ? 1 : 0);
        if (level.affineOpType().equals("Conv")) {
            return axis == 1 && features % width == 0 ? Optional.of(new InputLayout(1, features / width))
                    : Optional.empty();
        }
        return axis == shape.size() - 1 && features == width ? Optional.of(new InputLayout(1, 1)) : Optional.empty();
    }

    private static Optional<Long> product(List<Dim> shape, int from, int to) {
        long p = 1;
        for (int j = from; j < to; j++) {
            if (!shape.get(j).isFixed()) {
                return Optional.empty();
            }
            p *= shape.get(j).value();
        }
        return Optional.of(p);
    }
}
