package org.onnxfuse.fusion.group;

import java.util.SplittableRandom;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.StatisticsAccumulator;
import org.onnxfuse.kernels.SufficientStatistics;

/** Raw samples of one level for tests: X (rows x d, last column ones) and A (rows x m). */
final class LevelData {
    final double[][] x;
    final double[][] a;

    LevelData(double[][] x, double[][] a) {
        this.x = x;
        this.a = a;
    }

    int rows() {
        return x.length;
    }

    int inputDim() {
        return x[0].length;
    }

    int neurons() {
        return a[0].length;
    }

    /** X with standard normal features and a trailing ones column (a bias). */
    /** Random X (with bias column) and A = X B + noise for independent random weights B. */
    static LevelData random(long seed, int rows, int features, int m, double noise) {
        SplittableRandom random = new SplittableRandom(seed);
        double[][] x = randomInputs(random, rows, features);
        double[][] b = randomWeights(random, features + 1, m);
        return new LevelData(x, targets(x, b, noise, random));
    }

    static double[][] randomInputs(SplittableRandom random, int rows, int features) {
        double[][] x = new double[rows][features + 1];
        for (double[] row : x) {
            for (int f = 0; f < features; f++) {
                row[f] = gaussian(random);
            }
            row[features] = 1.0;
        }
        return x;
    }

    /** A d x n matrix of standard normal entries, as rows. */
    static double[][] randomWeights(SplittableRandom random, int d, int n) {
        double[][] b = new double[d][n];
        for (double[] row : b) {
            for (int j = 0; j < n; j++) {
                row[j] = gaussian(random);
            }
        }
        return b;
    }

    /** X b (rows x n) plus Gaussian noise of the given standard deviation. */
    static double[][] targets(double[][] x, double[][] b, double noise, SplittableRandom random) {
        int n = b[0].length;
        double[][] a = new double[x.length][n];
        for (int r = 0; r < x.length; r++) {
            for (int j = 0; j < n; j++) {
                double v = 0.0;
                for (int f = 0; f < b.length; f++) {
                    v += x[r][f] * b[f][j];
                }
                a[r][j] = v + (noise > 0 ? noise * gaussian(random) : 0.0);
            }
        }
        return a;
    }

    /** Columns of the parents' targets side by side: [A_0 | A_1 | ...]. */
    static double[][] concat(double[][]... parts) {
        int rows = parts[0].length;
        int m = 0;
        for (double[][] p : parts) {
            m += p[0].length;
        }
        double[][] out = new double[rows][m];
        for (int r = 0; r < rows; r++) {
            int at = 0;
            for (double[][] p : parts) {
                System.arraycopy(p[r], 0, out[r], at, p[r].length);
                at += p[r].length;
            }
        }
        return out;
    }

    /** out[:, j] = in[:, perm[j]]. */
    static double[][] permuteColumns(double[][] in, int[] perm) {
        double[][] out = new double[in.length][perm.length];
        for (int r = 0; r < in.length; r++) {
            for (int j = 0; j < perm.length; j++) {
                out[r][j] = in[r][perm[j]];
            }
        }
        return out;
    }

    static int[] randomPermutation(SplittableRandom random, int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    static double gaussian(SplittableRandom random) {
        double u1 = 1.0 - random.nextDouble();
        double u2 = random.nextDouble();
        return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2);
    }

    /** S_xx, S_xa, S_aa summed in plain Java (float64 data). */
    SufficientStatistics plainStatistics() {
        int d = inputDim();
        int m = neurons();
        double[] xx = new double[d * d];
        double[] xa = new double[d * m];
        double[] aa = new double[m * m];
        for (int r = 0; r < rows(); r++) {
            for (int i = 0; i < d; i++) {
                for (int j = 0; j < d; j++) {
                    xx[i + j * d] += x[r][i] * x[r][j];
                }
                for (int j = 0; j < m; j++) {
                    xa[i + j * d] += x[r][i] * a[r][j];
                }
            }
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < m; j++) {
                    aa[i + j * m] += a[r][i] * a[r][j];
                }
            }
        }
        return new SufficientStatistics(rows(), new DenseMatrix(d, d, xx), new DenseMatrix(d, m, xa),
                new DenseMatrix(m, m, aa));
    }

    /** The same data rounded to float32, as ONNX Runtime would hand it over. */
    LevelData roundedToFloat() {
        return new LevelData(round(x), round(a));
    }

    /** The statistics streamed through the backend's accumulator in two batches (float32 input). */
    SufficientStatistics backendStatistics(ComputeBackend backend) {
        int d = inputDim();
        int m = neurons();
        try (StatisticsAccumulator acc = backend.openStatistics(d, m)) {
            int half = rows() / 2;
            acc.accumulate(flatten(x, 0, half), flatten(a, 0, half));
            acc.accumulate(flatten(x, half, rows()), flatten(a, half, rows()));
            return acc.statistics();
        }
    }

    /** X row-major as float32, one batch. */
    float[] flatInputs() {
        return flatten(x, 0, rows());
    }

    /** A row-major as float32, one batch. */
    float[] flatTargets() {
        return flatten(a, 0, rows());
    }

    /** ||X w - a_target|| computed directly from the samples. */
    double directDistance(double[] w, int target) {
        double sum = 0.0;
        for (int r = 0; r < rows(); r++) {
            double v = 0.0;
            for (int f = 0; f < w.length; f++) {
                v += x[r][f] * w[f];
            }
            double e = v - a[r][target];
            sum += e * e;
        }
        return Math.sqrt(sum);
    }

    private static float[] flatten(double[][] rows, int from, int to) {
        int cols = rows[0].length;
        float[] out = new float[(to - from) * cols];
        for (int r = from; r < to; r++) {
            for (int c = 0; c < cols; c++) {
                out[(r - from) * cols + c] = (float) rows[r][c];
            }
        }
        return out;
    }

    private static double[][] round(double[][] in) {
        double[][] out = new double[in.length][];
        for (int r = 0; r < in.length; r++) {
            out[r] = new double[in[r].length];
            for (int c = 0; c < in[r].length; c++) {
                out[r][c] = (float) in[r][c];
            }
        }
        return out;
    }

    /** Column j of a column-major d x n matrix. */
    static double[] column(DenseMatrix matrix, int j) {
        double[] out = new double[matrix.rows()];
        for (int i = 0; i < out.length; i++) {
            out[i] = matrix.get(i, j);
        }
        return out;
    }

    /** W u as a vector. */
    static double[] combine(DenseMatrix w, int[] members, double[] weights) {
        double[] out = new double[w.rows()];
        for (int a = 0; a < members.length; a++) {
            for (int f = 0; f < out.length; f++) {
                out[f] += weights[a] * w.get(f, members[a]);
            }
        }
        return out;
    }
}
