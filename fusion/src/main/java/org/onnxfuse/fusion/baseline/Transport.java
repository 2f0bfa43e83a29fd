package org.onnxfuse.fusion.baseline;

import java.util.Arrays;

/**
 * Exact discrete optimal transport with integer masses: ship {@code supply[i]} units from each
 * source i to meet {@code demand[j]} at each sink j at least total cost. Rational marginals
 * (uniform 1/n and 1/m, or importance scores rounded to a common denominator) become integers
 * by scaling with a common denominator.
 *
 * <p>Solved as a min-cost flow on the complete bipartite graph by successive shortest paths:
 * Dijkstra on reduced costs (node potentials keep them non-negative), each path augmented by its
 * bottleneck. With integer masses every augmentation ships a whole number of units and the
 * final flow is an optimal vertex of the transport polytope, so the plan is exact (no entropic
 * smoothing) and has at most n + m - 1 non-zero entries. Each augmentation exhausts a source, a
 * sink or a reverse edge; in practice about n + m augmentations of O((n + m)^2 + n m) each.
 * Deterministic: ties go to the lower index.
 */
public final class Transport {
    private Transport() {
    }

    /**
     * The optimal plan: {@code flow[i][j]} units from source i to sink j.
     *
     * @param cost   n x m, finite
     * @param supply n positive masses
     * @param demand m positive masses with the same total as {@code supply}
     */
    public static long[][] solve(double[][] cost, long[] supply, long[] demand) {
        int n = supply.length;
        int m = demand.length;
        if (cost.length != n || n == 0 || m == 0) {
            throw new IllegalArgumentException("cost has " + cost.length + " rows for " + n + " sources, " + m + " sinks");
        }
        double min = Double.POSITIVE_INFINITY;
        for (double[] row : cost) {
            if (row.length != m) {
                throw new IllegalArgumentException("cost rows of " + row.length + " for " + m + " sinks");
            }
            for (double c : row) {
                if (!Double.isFinite(c)) {
                    throw new IllegalArgumentException("cost matrix holds " + c);
                }
                min = Math.min(min, c);
            }
        }
        long totalSupply = 0;
        long totalDemand = 0;
        for (long s : supply) {
            if (s <= 0) {
                throw new IllegalArgumentException("supplies must be positive: " + Arrays.toString(supply));
            }
            totalSupply = Math.addExact(totalSupply, s);
        }
        for (long d : demand) {
            if (d <= 0) {
                throw new IllegalArgumentException("demands must be positive: " + Arrays.toString(demand));
            }
            totalDemand = Math.addExact(totalDemand, d);
        }
        if (totalSupply != totalDemand) {
            throw new IllegalArgumentException("total supply " + totalSupply + " != total demand " + totalDemand);
        }
        // costs shifted to >= 0 so that zero potentials start feasible; the shift adds the same
        // amount per unit to every plan and so does not change the optimum
        double[][] c = new double[n][m];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < m; j++) {
                c[i][j] = cost[i][j] - min;
            }
        }
        return new Solver(c, supply, demand).run();
    }

    /** Nodes: 0 = source, 1..n rows, n+1..n+m columns, n+m+1 = sink. */
    private static final class Solver {
        private final double[][] cost;
        private final int n;
        private final int m;
        private final long[] restSupply;
        private final long[] restDemand;
        private final long[][] flow;
        private final double[] potential;
        private final double[] dist;
        private final int[] previous;
        private final boolean[] done;
        private final int sink;

        Solver(double[][] cost, long[] supply, long[] demand) {
            this.cost = cost;
            this.n = supply.length;
            this.m = demand.length;
            this.restSupply = supply.clone();
            this.restDemand = demand.clone();
            this.flow = new long[n][m];
            this.sink = n + m + 1;
            this.potential = new double[n + m + 2];
            this.dist = new double[n + m + 2];
            this.previous = new int[n + m + 2];
            this.done = new boolean[n + m + 2];
        }

        long[][] run() {
            long left = Arrays.stream(restSupply).sum();
            while (left > 0) {
                shortestPaths();
                if (dist[sink] == Double.POSITIVE_INFINITY) {
                    throw new IllegalStateException("no augmenting path with " + left + " units left to ship");
                }
                for (int v = 0; v <= sink; v++) {
                    potential[v] += Math.min(dist[v], dist[sink]);
                }
                left -= augment();
            }
            return flow;
        }

        private void relax(int from, int to, double edgeCost) {
            if (done[to]) {
                return;
            }
            // reduced costs are >= 0 in exact arithmetic; clamp the rounding
            double d = dist[from] + Math.max(0, edgeCost + potential[from] - potential[to]);
            if (d < dist[to]) {
                dist[to] = d;
                previous[to] = from;
            }
        }

        private void shortestPaths() {
            Arrays.fill(dist, Double.POSITIVE_INFINITY);
            Arrays.fill(done, false);
            Arrays.fill(previous, -1);
            dist[0] = 0;
            while (true) {
                int u = -1;
                for (int v = 0; v <= sink; v++) {
                    if (!done[v] && dist[v] < Double.POSITIVE_INFINITY && (u < 0 || dist[v] < dist[u])) {
                        u = v;
                    }
                }
                if (u < 0 || u == sink) {
                    return;
                }
                done[u] = true;
                if (u == 0) {
                    for (int i = 0; i < n; i++) {
                        if (restSupply[i] > 0) {
                            relax(0, 1 + i, 0);
                        }
                    }
                } else if (u <= n) {
                    int i = u - 1;
                    for (int j = 0; j < m; j++) {
                        relax(u, 1 + n + j, cost[i][j]);
                    }
                } else {
                    int j = u - 1 - n;
                    for (int i = 0; i < n; i++) {
                        if (flow[i][j] > 0) {
                            relax(u, 1 + i, -cost[i][j]);
                        }
                    }
                    if (restDemand[j] > 0) {
                        relax(u, sink, 0);
                    }
                }
            }
        }

        /** Ships the bottleneck along the path found; returns the units shipped. */
        private long augment() {
            long amount = Long.MAX_VALUE;
            int v = sink;
            while (v != 0) {
                int p = previous[v];
                if (v == sink) {
                    amount = Math.min(amount, restDemand[p - 1 - n]);
                } else if (p == 0) {
                    amount = Math.min(amount, restSupply[v - 1]);
                } else if (p > n) {
                    amount = Math.min(amount, flow[v - 1][p - 1 - n]);
                }
                v = p;
            }
            v = sink;
            while (v != 0) {
                int p = previous[v];
                if (v == sink) {
                    restDemand[p - 1 - n] -= amount;
                } else if (p == 0) {
                    restSupply[v - 1] -= amount;
                } else if (p > n) {
                    flow[v - 1][p - 1 - n] -= amount;
                } else {
                    flow[p - 1][v - 1 - n] += amount;
                }
                v = p;
            }
            return amount;
        }
    }
}
