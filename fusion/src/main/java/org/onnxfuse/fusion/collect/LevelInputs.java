package org.onnxfuse.fusion.collect;

import java.util.Arrays;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.kernels.RowGather;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.Graph;

/**
 * Turns the activation entering a level's affine op into the rows of X (ALGORITHM.md section 3
 * step 1): Gemm [N, in] as is, MatMul [N, ..., in] with every leading axis as rows, Conv by
 * {@link Im2Col}; a ones column is appended when the level has a bias. Rows are in the order
 * {@link CutRows} gives the cut's rows. The fan-in d follows the activation, so a level whose
 * input width was changed by fusing the previous level gets its new fan-in.
 */
public final class LevelInputs {
    private final Level level;
    private final String opType;
    private final long[] kernel;
    private final ConvWindow window;
    private long[] im2colShape;
    private Im2Col im2col;

    /**
     * @param level the level (planned on {@code graph})
     * @param graph a graph holding the level's affine weight, read for the Conv kernel size only
     */
    public LevelInputs(Level level, Graph graph) {
        this.level = level;
        this.opType = level.affineOpType();
        if (opType.equals("Conv")) {
            String w = level.affine().inputs().get(1);
            long[] dims = graph.initializer(w).orElseThrow(() -> new OnnxFuseException(ErrorCode.INVALID_MODEL,
                    "Conv '" + level.affine().name() + "' has no weight initializer '" + w + "'")).dims();
            this.kernel = Arrays.copyOfRange(dims, 2, dims.length);
            this.window = ConvWindow.of(level.affine(), kernel);
        } else {
            this.kernel = null;
            this.window = null;
        }
    }

    public boolean hasBias() {
        return level.hasBias();
    }

    /** Fan-in d (columns of X, the ones column included) for an affine input of {@code shape}. */
    public int fanIn(long[] shape) {
        int ones = level.hasBias() ? 1 : 0;
        return switch (opType) {
            case "Conv" -> Math.toIntExact(shape[1] * product(kernel)) + ones;
            default -> Math.toIntExact(shape[shape.length - 1]) + ones;
        };
    }

    /** Rows of X for an affine input of {@code shape}: every axis but the features, or samples x output positions for Conv. */
    public int rowCount(long[] shape) {
        long rows = 1;
        if (opType.equals("Conv")) {
            long[] geometry = shape.clone();
            geometry[0] = 0;
            if (im2col == null || !Arrays.equals(geometry, im2colShape)) {
                im2col = new Im2Col(window, shape);
                im2colShape = geometry;
            }
            rows = shape[0] * im2col.positions();
        } else {
            for (int i = 0; i < shape.length - 1; i++) {
                rows *= shape[i];
            }
        }
        return Math.toIntExact(rows);
    }

    /**
     * For a Conv level, how X's rows are gathered from an input of {@code shape} (for a backend
     * that unfolds on the device); null for Gemm and MatMul, whose rows are the input itself.
     */
    public RowGather gather(long[] shape) {
        if (!opType.equals("Conv")) {
            return null;
        }
        rowCount(shape); // builds the im2col for this geometry
        return im2col.gather(level.hasBias());
    }

    /** X as a row-major rows x d matrix. */
    public float[] rows(Activation input) {
        return rows(input, null);
    }

    /**
     * X as a row-major rows x d matrix in the first rows * d values of {@code reuse} when it is
     * long enough, else of a new array (pass it back next time): per batch the collector then
     * allocates nothing. Without a bias on a Gemm/MatMul input X is the input's own array.
     */
    public float[] rows(Activation input, float[] reuse) {
        long[] shape = input.shape();
        boolean ones = level.hasBias();
        switch (opType) {
            case "Gemm", "MatMul" -> {
                if (shape.length < 2 || (opType.equals("Gemm") && shape.length != 2)) {
                    throw new OnnxFuseException(ErrorCode.INVALID_MODEL, "level " + level.index() + ": input '"
                            + input.name() + "' of " + opType + " '" + level.affine().name() + "' has shape "
                            + Arrays.toString(shape) + ", expected [N, features]"
                            + (opType.equals("MatMul") ? " or [N, ..., features]" : ""));
                }
                if (!ones) {
                    return input.values();
                }
                int in = Math.toIntExact(shape[shape.length - 1]);
                int rows = input.values().length / Math.max(in, 1);
                float[] out = buffer(reuse, (long) rows * (in + 1));
                float[] src = input.values();
                for (int r = 0; r < rows; r++) {
                    System.arraycopy(src, r * in, out, r * (in + 1), in);
                    out[r * (in + 1) + in] = 1f;
                }
                return out;
            }
            case "Conv" -> {
                long[] geometry = shape.clone();
                geometry[0] = 0;
                if (im2col == null || !Arrays.equals(geometry, im2colShape)) {
                    im2col = new Im2Col(window, shape);
                    im2colShape = geometry;
                }
                int count = Math.toIntExact(shape[0]);
                float[] out = buffer(reuse, (long) count * im2col.positions() * (im2col.features() + (ones ? 1 : 0)));
                im2col.unfold(input.values(), count, ones, out);
                return out;
            }
            default -> throw new OnnxFuseException(ErrorCode.UNSUPPORTED_OP, "level " + level.index()
                    + " ends in " + opType + "; expected Gemm, MatMul or Conv");
        }
    }

    private static float[] buffer(float[] reuse, long size) {
        return reuse != null && reuse.length >= size ? reuse : new float[Math.toIntExact(size)];
    }

    private static long product(long[] dims) {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        return n;
    }
}
