package org.onnxfuse.fusion.importance;

/**
 * Sums |attribution| per neuron over samples and positions (ALGORITHM.md section 6: s_j = (1/N)
 * sum_n sum_positions |attr| + 1e-8) for one cut of one parent.
 */
final class NeuronScores {
    static final double FLOOR = 1e-8;

    private final double[] sums;
    private long samples;

    NeuronScores(int width) {
        this.sums = new double[width];
    }

    /**
     * Adds one batch: the first prod(shape) values of {@code attributions} are one per element of
     * an array of shape {@code shape} (samples first, neurons on {@code neuronAxis}), row-major.
     */
    void add(double[] attributions, long[] shape, int neuronAxis) {
        if (neuronAxis >= shape.length || shape[neuronAxis] != sums.length) {
            throw new IllegalArgumentException("expected a cut with " + sums.length + " neurons on axis " + neuronAxis
                    + ", found shape " + java.util.Arrays.toString(shape));
        }
        long inner = 1;
        for (int a = neuronAxis + 1; a < shape.length; a++) {
            inner *= shape[a];
        }
        long count = java.util.Arrays.stream(shape).reduce(1, Math::multiplyExact);
        if (attributions.length < count) {
            throw new IllegalArgumentException(attributions.length + " attributions for shape "
                    + java.util.Arrays.toString(shape));
        }
        int width = sums.length;
        for (int i = 0; i < count; i++) {
            int neuron = (int) ((i / inner) % width);
            sums[neuron] += Math.abs(attributions[i]);
        }
        samples += shape[0];
    }

    /** The mean over the samples added, plus the floor that keeps every score positive. */
    double[] scores() {
        double[] s = new double[sums.length];
        for (int j = 0; j < s.length; j++) {
            s[j] = (samples == 0 ? 0.0 : sums[j] / samples) + FLOOR;
        }
        return s;
    }
}
