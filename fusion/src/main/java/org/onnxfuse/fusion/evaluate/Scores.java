package org.onnxfuse.fusion.evaluate;

import java.util.Arrays;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.IncompatibleModelsException;
import org.onnxfuse.onnx.errors.ModelFormatException;

/** Row-wise helpers on [count, classes] score matrices stored row-major. */
public final class Scores {
    private Scores() {
    }

    /** The number of classes of a logits tensor of shape [count, classes]. */
    static int classes(Activation logits, int count) {
        long[] s = logits.shape();
        if (s.length != 2 || s[0] != count) {
            throw new ModelFormatException(ErrorCode.INVALID_MODEL, "output '" + logits.name() + "' has shape "
                    + Arrays.toString(s) + "; expected [" + count + ", classes] (one row of class scores per sample)");
        }
        return (int) s[1];
    }

    /**
     * The class count of model {@code model}'s logits ([rows, classes]), which must be {@code classes}
     * (the first model's) unless that is still unknown (negative).
     *
     * @throws IncompatibleModelsException when the counts differ
     */
    static int sameClasses(int classes, Activation logits, int rows, int model) {
        int c = classes(logits, rows);
        if (classes >= 0 && c != classes) {
            throw new IncompatibleModelsException(ErrorCode.INCOMPATIBLE_PARENTS, "model 0 has " + classes
                    + " classes but model " + model + " has " + c + "; ensemble members and the fused model must"
                    + " share their classes");
        }
        return c;
    }

    /** Index of the largest value of row {@code r}; the lowest index on ties. */
    static int argmax(double[] values, int r, int classes) {
        int best = 0;
        for (int c = 1; c < classes; c++) {
            if (values[r * classes + c] > values[r * classes + best]) {
                best = c;
            }
        }
        return best;
    }

    static int argmax(float[] values, int r, int classes) {
        int best = 0;
        for (int c = 1; c < classes; c++) {
            if (values[r * classes + c] > values[r * classes + best]) {
                best = c;
            }
        }
        return best;
    }

    /** softmax(row r of {@code logits})[c], in float64 with the max shifted out. */
    public static double probability(float[] logits, int r, int classes, int c) {
        double max = rowMax(logits, r, classes);
        return Math.exp(logits[r * classes + c] - max) / sumExp(logits, r, classes, max);
    }

    /** log sum_c exp(row r of {@code logits}), in float64 with the max shifted out. */
    static double logSumExp(float[] logits, int r, int classes) {
        double max = rowMax(logits, r, classes);
        return max + Math.log(sumExp(logits, r, classes, max));
    }

    private static double rowMax(float[] logits, int r, int classes) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < classes; j++) {
            max = Math.max(max, logits[r * classes + j]);
        }
        return max;
    }

    private static double sumExp(float[] logits, int r, int classes, double max) {
        double z = 0;
        for (int j = 0; j < classes; j++) {
            z += Math.exp(logits[r * classes + j] - max);
        }
        return z;
    }

    /** Adds softmax(row r of {@code logits}) to row r of {@code sum}, in float64 with the max shifted out. */
    static void addSoftmax(float[] logits, int rows, int classes, double[] sum) {
        addSoftmax(logits, rows, classes, sum, 0);
    }

    /** As {@link #addSoftmax(float[], int, int, double[])}, into {@code sum} from index {@code offset}. */
    static void addSoftmax(float[] logits, int rows, int classes, double[] sum, int offset) {
        for (int r = 0; r < rows; r++) {
            double max = rowMax(logits, r, classes);
            double z = sumExp(logits, r, classes, max);
            for (int c = 0; c < classes; c++) {
                sum[offset + r * classes + c] += Math.exp(logits[r * classes + c] - max) / z;
            }
        }
    }
}
