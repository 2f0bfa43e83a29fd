package org.onnxfuse.fusion.pipeline;

import java.util.ArrayList;
import java.util.List;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.collect.FloatChunks;
import org.onnxfuse.fusion.collect.StatisticsCollector;
import org.onnxfuse.fusion.train.HeldRows;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;

/**
 * Keeps one level's training data while its statistics are collected (the same inference pass,
 * so training costs no extra run of the models): per calibration sample the fused model's input
 * to the affine op and all parents' target columns at the cut. Once the grouping is known,
 * {@link #targets} turns the parents' columns into the fused targets T = A U in the cut's own
 * layout. Memory: 4 bytes per input value and per parent target value of every sample, held once
 * (a budget, a quarter of the heap by default, caps it; past it the level keeps its linear fit).
 */
final class TrainingRows implements StatisticsCollector.BatchSink {
    private final long budgetBytes;
    private final int neuronAxis;
    private final List<float[]> inputs = new ArrayList<>();
    private final List<float[]> columns = new ArrayList<>();
    private final List<Integer> batchSamples = new ArrayList<>();
    private long[] inputSample;
    private long[] cutSample;
    private int m;
    private int positions;
    private long samples;
    private long bytes;
    private boolean overBudget;

    TrainingRows(long budgetBytes, int neuronAxis) {
        this.budgetBytes = budgetBytes;
        this.neuronAxis = neuronAxis;
    }

    /** A quarter of the maximum heap. */
    static long defaultBudget() {
        return Runtime.getRuntime().maxMemory() / 4;
    }

    @Override
    public void accept(float[] x, int d, float[] a, int m, int rows) {
        // statistics are the collector's business; this sink keeps the raw batches only
    }

    @Override
    public void rawBatch(Activation input, long[] cutShape, float[] a, int m, int rows) {
        if (overBudget) {
            return;
        }
        int n = Math.toIntExact(input.shape()[0]);
        long inputValues = 1;
        for (int i = 1; i < input.shape().length; i++) {
            inputValues *= input.shape()[i];
        }
        long batchBytes = 4L * (inputValues * n + (long) rows * m);
        if (bytes + batchBytes > budgetBytes) {
            overBudget = true;
            inputs.clear();
            columns.clear();
            return;
        }
        if (inputSample == null) {
            inputSample = java.util.Arrays.copyOfRange(input.shape(), 1, input.shape().length);
            cutSample = java.util.Arrays.copyOfRange(cutShape, 1, cutShape.length);
            this.m = m;
            this.positions = rows / n;
        }
        inputs.add(java.util.Arrays.copyOf(input.values(), Math.toIntExact(inputValues * n)));
        columns.add(java.util.Arrays.copyOf(a, rows * m));
        batchSamples.add(n);
        samples += n;
        bytes += batchBytes;
    }

    /** Whether the rows outgrew the budget (then nothing is held). */
    boolean overBudget() {
        return overBudget;
    }

    int samples() {
        return Math.toIntExact(samples);
    }

    /** One sample's input shape, the batch axis left out. */
    long[] inputSample() {
        return inputSample.clone();
    }

    /** One sample's target shape for {@code width} fused neurons, the batch axis left out. */
    long[] targetSample(int width) {
        long[] s = cutSample.clone();
        s[neuronAxis - 1] = width;
        return s;
    }

    /** Every sample's input, row-major, samples first. */
    float[] inputValues() {
        return FloatChunks.concat(inputs);
    }

    /**
     * Every sample's target A U ({@code members}: the m parent columns, plus any extra columns the
     * collector appended, by the k fused neurons), laid out as the cut: neurons on the neuron axis.
     *
     * @throws IllegalStateException when the neuron axis is neither the first after the batch nor the last
     */
    float[] targets(DenseMatrix members, ComputeBackend backend) {
        int k = members.cols();
        if (members.rows() != m) {
            throw new IllegalArgumentException("members: expected " + m + " rows, found " + members.rows());
        }
        boolean last = neuronAxis == cutSample.length;
        if (!last && neuronAxis != 1) {
            throw new IllegalStateException("the neuron axis " + neuronAxis + " of a cut of rank "
                    + (cutSample.length + 1) + " is neither axis 1 nor the last");
        }
        float[] out = new float[Math.toIntExact(samples * positions * k)];
        int sample = 0;
        for (int b = 0; b < columns.size(); b++) {
            int rows = batchSamples.get(b) * positions;
            float[] t = project(columns.get(b), rows, members, backend); // one GEMM per batch
            placeInCutLayout(t, sample, rows, positions, k, last, out);
            sample += batchSamples.get(b);
        }
        return out;
    }

    /**
     * Writes {@code byRow} (rows x k, row-major, a row per sample and position, samples from
     * {@code firstSample} on) into {@code out} laid out as a cut: neurons last, or after the batch
     * axis before the positions ({@code last} false).
     */
    static void placeInCutLayout(float[] byRow, int firstSample, int rows, int positions, int k, boolean last,
                                 float[] out) {
        for (int r = 0; r < rows; r++) {
            int s = firstSample + r / positions;
            int p = r % positions;
            for (int g = 0; g < k; g++) {
                int at = last ? (s * positions + p) * k + g : (s * k + g) * positions + p;
                out[at] = byRow[r * k + g];
            }
        }
    }

    /**
     * Per sample and class, the mean over the parents of softmax(a_k / T) over their class columns
     * (the last level's {@code --distill} target); parent k's classes are columns
     * [k C, (k + 1) C) of the m = K C.
     */
    float[] meanSoftmax(int parents, double temperature) {
        int classes = m / parents;
        if (classes * parents != m || neuronAxis != cutSample.length) {
            throw new IllegalStateException("distillation targets: expected " + parents + " parents' classes on the last"
                    + " axis, found " + m + " columns on axis " + neuronAxis);
        }
        return meanSoftmax(FloatChunks.concat(columns), Math.toIntExact(samples * positions), parents, classes,
                temperature);
    }

    /**
     * Per row of {@code columns} (rows x K C, row-major, parent k's classes at [k C, (k + 1) C)),
     * the mean over the parents of softmax(a_k / T).
     */
    static float[] meanSoftmax(float[] columns, int rows, int parents, int classes, double temperature) {
        int m = parents * classes;
        float[] out = new float[rows * classes];
        double[] p = new double[classes];
        double[] e = new double[classes];
        for (int r = 0; r < rows; r++) {
            java.util.Arrays.fill(p, 0);
            for (int k = 0; k < parents; k++) {
                int base = r * m + k * classes;
                double max = Double.NEGATIVE_INFINITY;
                for (int c = 0; c < classes; c++) {
                    max = Math.max(max, columns[base + c] / temperature);
                }
                double sum = 0;
                for (int c = 0; c < classes; c++) {
                    e[c] = Math.exp(columns[base + c] / temperature - max);
                    sum += e[c];
                }
                for (int c = 0; c < classes; c++) {
                    p[c] += e[c] / sum / parents;
                }
            }
            for (int c = 0; c < classes; c++) {
                out[r * classes + c] = (float) p[c];
            }
        }
        return out;
    }

    /** {@code columns} (rows x m, row-major) times {@code members} (m x k), row-major, in float64 on the backend. */
    static float[] project(float[] columns, int rows, DenseMatrix members, ComputeBackend backend) {
        int m = members.rows();
        double[] rowMajor = new double[rows * m];
        for (int i = 0; i < rowMajor.length; i++) {
            rowMajor[i] = columns[i];
        }
        return toFloats(backend.multiplySparse(DenseMatrix.fromRowMajor(rows, m, rowMajor), members).toRowMajor());
    }

    /** {@code values} rounded to float32. */
    static float[] toFloats(double[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) values[i];
        }
        return out;
    }

    /** The held rows for training against {@code targets} (one of {@link #targets} or {@link #meanSoftmax}). */
    HeldRows rows(float[] targets) {
        return new HeldRows(samples(), inputValues(), targets);
    }

    /** Releases the batches (the assembled arrays are the trainer's now). */
    void clear() {
        inputs.clear();
        columns.clear();
    }
}
