package org.onnxfuse.kernels;

import java.util.SplittableRandom;

/** Plain-Java float64 references and random inputs for the backend tests. */
final class Reference {
    private Reference() {
    }

    static DenseMatrix random(SplittableRandom rng, int rows, int cols) {
        double[] d = new double[rows * cols];
        for (int k = 0; k < d.length; k++) {
            d[k] = rng.nextDouble(-1.0, 1.0);
        }
        return new DenseMatrix(rows, cols, d);
    }

    static float[] randomFloats(SplittableRandom rng, int n) {
        float[] f = new float[n];
        for (int k = 0; k < n; k++) {
            f[k] = (float) rng.nextDouble(-2.0, 2.0);
        }
        return f;
    }

    /** alpha op(A) op(B) + beta C by the definition. */
    static DenseMatrix gemm(Transpose opA, Transpose opB, double alpha, DenseMatrix a, DenseMatrix b, double beta,
                            DenseMatrix c) {
        DenseMatrix opa = opA == Transpose.YES ? a.transpose() : a;
        DenseMatrix opb = opB == Transpose.YES ? b.transpose() : b;
        int m = opa.rows();
        int n = opb.cols();
        int k = opa.cols();
        double[] out = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0.0;
                for (int l = 0; l < k; l++) {
                    s += opa.get(i, l) * opb.get(l, j);
                }
                out[i + j * m] = alpha * s + (beta == 0.0 ? 0.0 : beta * c.get(i, j));
            }
        }
        return new DenseMatrix(m, n, out);
    }

    /** Running sums of left^T right over row-major float32 batches, like the accumulator's. */
    static final class Sums {
        final int d;
        final int m;
        final double[] xx;
        final double[] xa;
        final double[] aa;
        long rows;

        Sums(int d, int m) {
            this.d = d;
            this.m = m;
            xx = new double[d * d];
            xa = new double[d * m];
            aa = new double[m * m];
        }

        void add(float[] x, float[] a, int n) {
            addProduct(x, d, x, d, n, xx);
            addProduct(x, d, a, m, n, xa);
            addProduct(a, m, a, m, n, aa);
            rows += n;
        }

        private static void addProduct(float[] left, int p, float[] right, int q, int n, double[] out) {
            for (int r = 0; r < n; r++) {
                for (int j = 0; j < q; j++) {
                    double rj = right[r * q + j];
                    for (int i = 0; i < p; i++) {
                        out[i + j * p] += left[r * p + i] * rj;
                    }
                }
            }
        }
    }

    /**
     * M^T M + n I for a random n x n M with entries in [-1, 1): symmetric positive definite with its
     * eigenvalues in about [n, 7n/3], so a condition number below 3 at every n.
     */
    static DenseMatrix randomSpd(ComputeBackend cpu, SplittableRandom rng, int n) {
        DenseMatrix m = random(rng, n, n);
        double[] s = cpu.gemm(Transpose.YES, Transpose.NO, 1.0, m, m, 0.0, null).toColumnMajor();
        for (int i = 0; i < n; i++) {
            s[i + i * n] += n;
        }
        return new DenseMatrix(n, n, s);
    }

    /** max |actual - expected| / max(1e-300, max |expected|). */
    static double relativeError(DenseMatrix actual, DenseMatrix expected) {
        return actual.maxAbsDifference(expected) / Math.max(1e-300, expected.maxAbs());
    }

    /** ||got - want||_F / ||want||_F. */
    static double relativeFrobeniusError(DenseMatrix got, DenseMatrix want) {
        double[] g = got.toColumnMajor();
        double[] w = want.toColumnMajor();
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < w.length; i++) {
            diff += (g[i] - w[i]) * (g[i] - w[i]);
            norm += w[i] * w[i];
        }
        return Math.sqrt(diff / Math.max(norm, Double.MIN_NORMAL));
    }
}
