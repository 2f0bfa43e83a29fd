package org.onnxfuse.fusion.train;

import java.util.SplittableRandom;
import org.onnxfuse.kernels.Backends;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;

/**
 * A linear model y = x W + b (W d x m, b m) with loss mean over rows of sum_j w_j (y_j - t_j)^2,
 * w_j > 0 the output weights (the importances of ALGORITHM.md section 4), and its exact gradient;
 * plus the problem's data and closed-form minimisers.
 */
final class LeastSquaresObjective implements Objective {
    final int d;
    final int m;
    private final double[] outputWeights;
    private final ParameterLayout layout;

    LeastSquaresObjective(int d, double... outputWeights) {
        this.d = d;
        this.m = outputWeights.length;
        this.outputWeights = outputWeights.clone();
        this.layout = ParameterLayout.of(
                new ParameterSpec("W", java.util.List.of(d, m), Initializer.fanIn(d)),
                new ParameterSpec("b", java.util.List.of(m), Initializer.fanIn(d)));
    }

    @Override
    public ParameterLayout parameters() {
        return layout;
    }

    @Override
    public double lossAndGradients(Batch batch, float[][] parameters, float[][] gradients) {
        return evaluate(batch, parameters, gradients);
    }

    @Override
    public double loss(Batch batch, float[][] parameters) {
        return evaluate(batch, parameters, null);
    }

    private double evaluate(Batch batch, float[][] parameters, float[][] gradients) {
        float[] x = batch.input();
        float[] t = batch.targets();
        float[] w = parameters[0];
        float[] b = parameters[1];
        double[] gw = new double[d * m];
        double[] gb = new double[m];
        double loss = 0;
        for (int r = 0; r < batch.rows(); r++) {
            for (int j = 0; j < m; j++) {
                double y = b[j];
                for (int k = 0; k < d; k++) {
                    y += (double) x[r * d + k] * w[k * m + j];
                }
                double residual = y - t[r * m + j];
                loss += outputWeights[j] * residual * residual;
                double g = 2 * outputWeights[j] * residual / batch.rows();
                gb[j] += g;
                for (int k = 0; k < d; k++) {
                    gw[k * m + j] += g * x[r * d + k];
                }
            }
        }
        if (gradients != null) {
            for (int i = 0; i < gw.length; i++) {
                gradients[0][i] = (float) gw[i];
            }
            for (int j = 0; j < m; j++) {
                gradients[1][j] = (float) gb[j];
            }
        }
        return loss / batch.rows();
    }

    /** n rows of x ~ U(-scale_k, scale_k) per feature k, targets x W* + b* exactly (no noise). */
    HeldRows noiselessRows(int n, double[] featureScales, float[][] truth, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] x = new float[n * d];
        float[] t = new float[n * m];
        for (int r = 0; r < n; r++) {
            for (int k = 0; k < d; k++) {
                x[r * d + k] = (float) (featureScales[k] * (2 * random.nextDouble() - 1));
            }
            for (int j = 0; j < m; j++) {
                double y = truth[1][j];
                for (int k = 0; k < d; k++) {
                    y += (double) x[r * d + k] * truth[0][k * m + j];
                }
                t[r * m + j] = (float) y;
            }
        }
        return new HeldRows(n, x, t);
    }

    /**
     * The minimiser over {@code rows} of this loss + decay/2 ||theta||^2 (decay 0: ordinary least
     * squares), column by column from the normal equations of A = [x 1], solved by the CPU
     * backend's Cholesky: (A^T A + decay n / (2 w_j) I) beta_j = A^T t_j.
     */
    double[][] minimiser(HeldRows source, int[] rows, double decay) {
        Batch batch = source.batch(rows);
        int n = batch.rows();
        int p = d + 1;
        double[][] out = {new double[d * m], new double[m]};
        try (ComputeBackend backend = Backends.open("cpu", 1)) {
            for (int j = 0; j < m; j++) {
                double[][] gram = new double[p][p];
                double[][] right = new double[p][1];
                for (int r = 0; r < n; r++) {
                    double[] row = new double[p];
                    for (int k = 0; k < d; k++) {
                        row[k] = batch.input()[r * d + k];
                    }
                    row[d] = 1;
                    for (int u = 0; u < p; u++) {
                        for (int v = 0; v < p; v++) {
                            gram[u][v] += row[u] * row[v];
                        }
                        right[u][0] += row[u] * batch.targets()[r * m + j];
                    }
                }
                DenseMatrix beta = backend.choleskySolve(DenseMatrix.fromRows(gram), DenseMatrix.fromRows(right),
                        decay * n / (2 * outputWeights[j]));
                for (int k = 0; k < d; k++) {
                    out[0][k * m + j] = beta.get(k, 0);
                }
                out[1][j] = beta.get(d, 0);
            }
        }
        return out;
    }
}
