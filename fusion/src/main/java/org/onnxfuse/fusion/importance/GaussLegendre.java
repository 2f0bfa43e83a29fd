package org.onnxfuse.fusion.importance;

/** Gauss-Legendre quadrature nodes, the points at which conductance samples the path. */
final class GaussLegendre {
    private GaussLegendre() {
    }

    /**
     * The n roots of the Legendre polynomial P_n mapped from [-1, 1] to [0, 1], ascending, found
     * by Newton's method from the Chebyshev-like first guesses (accurate to ~1e-15).
     */
    static double[] unitNodes(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("need at least one node, found " + n);
        }
        double[] nodes = new double[n];
        for (int i = 0; i < n; i++) {
            double x = Math.cos(Math.PI * (i + 0.75) / (n + 0.5));
            for (int iteration = 0; iteration < 100; iteration++) {
                double p0 = 1.0;
                double p1 = x;
                for (int k = 2; k <= n; k++) {
                    double p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
                    p0 = p1;
                    p1 = p2;
                }
                double pn = n == 1 ? x : p1;
                double pPrev = n == 1 ? 1.0 : p0;
                double derivative = n * (x * pn - pPrev) / (x * x - 1.0);
                double step = pn / derivative;
                x -= step;
                if (Math.abs(step) < 1e-16) {
                    break;
                }
            }
            nodes[n - 1 - i] = (x + 1.0) / 2.0;
        }
        return nodes;
    }
}
