package org.onnxfuse.kernels;

import java.util.SplittableRandom;

/**
 * A consistent Gram-form K-means problem for tests: random samples X (n x d), targets A (n x m)
 * and weights W (d x m), P = X W, C = A<sup>T</sup> P, G = P<sup>T</sup> P, t_i = ||a_i||<sup>2</sup>
 * (all column-major). With {@code distinct < m} neuron j is an exact twin of neuron j mod distinct
 * (same target and weights), so distances tie exactly.
 */
record GramProblem(int m, double[] cross, double[] gram, double[] norms) {

    static GramProblem random(SplittableRandom rng, int m, int distinct) {
        int n = 12;
        int d = 5;
        double[][] x = gaussians(rng, n, d);
        double[][] baseA = gaussians(rng, n, distinct);
        double[][] baseW = gaussians(rng, d, distinct);
        double[][] p = new double[n][m];
        double[][] a = new double[n][m];
        for (int r = 0; r < n; r++) {
            for (int j = 0; j < m; j++) {
                int src = j % distinct;
                a[r][j] = baseA[r][src];
                double v = 0.0;
                for (int f = 0; f < d; f++) {
                    v += x[r][f] * baseW[f][src];
                }
                p[r][j] = v;
            }
        }
        double[] cross = new double[m * m];
        double[] gram = new double[m * m];
        double[] norms = new double[m];
        for (int j = 0; j < m; j++) {
            for (int i = 0; i < m; i++) {
                double c = 0.0;
                double g = 0.0;
                for (int r = 0; r < n; r++) {
                    c += a[r][i] * p[r][j];
                    g += p[r][i] * p[r][j];
                }
                cross[i + j * m] = c;
                gram[i + j * m] = g;
            }
            double t = 0.0;
            for (int r = 0; r < n; r++) {
                t += a[r][j] * a[r][j];
            }
            norms[j] = t;
        }
        return new GramProblem(m, cross, gram, norms);
    }

    GramKMeans open(ComputeBackend backend) {
        return backend.openGramKMeans(cross, gram, norms, m);
    }

    /** Random positive weights, normalised to sum 1 over each group of {@code owner}. */
    static double[] groupWeights(SplittableRandom rng, int[] owner, int k) {
        double[] w = new double[owner.length];
        double[] sum = new double[k];
        for (int j = 0; j < owner.length; j++) {
            w[j] = 0.2 + rng.nextDouble();
            if (owner[j] >= 0) {
                sum[owner[j]] += w[j];
            }
        }
        for (int j = 0; j < owner.length; j++) {
            if (owner[j] >= 0) {
                w[j] /= sum[owner[j]];
            }
        }
        return w;
    }

    /** Owners in -1..k-1 (some groups may stay empty) and currents in 0..k-1, uniformly at random. */
    static int[] randomIds(SplittableRandom rng, int m, int k, boolean allowNone) {
        int[] ids = new int[m];
        for (int i = 0; i < m; i++) {
            ids[i] = rng.nextInt(allowNone ? -1 : 0, k);
        }
        return ids;
    }

    private static double[][] gaussians(SplittableRandom rng, int rows, int cols) {
        double[][] out = new double[rows][cols];
        for (double[] row : out) {
            for (int c = 0; c < cols; c++) {
                double u1 = 1.0 - rng.nextDouble();
                double u2 = rng.nextDouble();
                row[c] = Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2);
            }
        }
        return out;
    }
}
