package org.onnxfuse.fusion.baseline;

import java.util.Arrays;

/**
 * The linear assignment problem: given an n x m cost matrix with n <= m, the injective map
 * {@code row -> column} of least total cost. Shortest augmenting paths with row and column
 * potentials (the Hungarian method in its O(n^2 m) form): one row is added at a time and matched
 * along a cheapest alternating path in reduced costs, so the result is an exact optimum.
 * Deterministic: ties go to the lower column index.
 */
public final class Assignment {
    private Assignment() {
    }

    /**
     * Minimises {@code sum_i cost[i][column[i]]}.
     *
     * @param cost n x m, n <= m, finite values
     * @return column[i] for every row i, all distinct
     */
    public static int[] minimize(double[][] cost) {
        int n = cost.length;
        if (n == 0) {
            return new int[0];
        }
        int m = cost[0].length;
        if (n > m) {
            throw new IllegalArgumentException("assignment of " + n + " rows to " + m + " columns: need rows <= columns");
        }
        for (double[] row : cost) {
            if (row.length != m) {
                throw new IllegalArgumentException("ragged cost matrix: rows of " + m + " and " + row.length);
            }
            for (double c : row) {
                if (!Double.isFinite(c)) {
                    throw new IllegalArgumentException("cost matrix holds " + c);
                }
            }
        }
        // 1-based arrays; column 0 is a virtual column that holds the row being inserted
        double[] u = new double[n + 1];
        double[] v = new double[m + 1];
        int[] rowOf = new int[m + 1];
        int[] via = new int[m + 1];
        double[] slack = new double[m + 1];
        boolean[] used = new boolean[m + 1];
        for (int i = 1; i <= n; i++) {
            rowOf[0] = i;
            int col = 0;
            Arrays.fill(slack, Double.POSITIVE_INFINITY);
            Arrays.fill(used, false);
            do {
                used[col] = true;
                int row = rowOf[col];
                double delta = Double.POSITIVE_INFINITY;
                int next = -1;
                double[] c = cost[row - 1];
                for (int j = 1; j <= m; j++) {
                    if (used[j]) {
                        continue;
                    }
                    double reduced = c[j - 1] - u[row] - v[j];
                    if (reduced < slack[j]) {
                        slack[j] = reduced;
                        via[j] = col;
                    }
                    if (slack[j] < delta) {
                        delta = slack[j];
                        next = j;
                    }
                }
                for (int j = 0; j <= m; j++) {
                    if (used[j]) {
                        u[rowOf[j]] += delta;
                        v[j] -= delta;
                    } else {
                        slack[j] -= delta;
                    }
                }
                col = next;
            } while (rowOf[col] != 0);
            // flip the alternating path back to the virtual column
            do {
                int prev = via[col];
                rowOf[col] = rowOf[prev];
                col = prev;
            } while (col != 0);
        }
        int[] column = new int[n];
        for (int j = 1; j <= m; j++) {
            if (rowOf[j] != 0) {
                column[rowOf[j] - 1] = j - 1;
            }
        }
        return column;
    }

    /** Maximises {@code sum_i score[i][column[i]]} (n x m, n <= m). */
    public static int[] maximize(double[][] score) {
        double[][] cost = new double[score.length][];
        for (int i = 0; i < score.length; i++) {
            cost[i] = new double[score[i].length];
            for (int j = 0; j < cost[i].length; j++) {
                cost[i][j] = -score[i][j];
            }
        }
        return minimize(cost);
    }

    /** Total cost of an assignment. */
    public static double cost(double[][] cost, int[] column) {
        double s = 0;
        for (int i = 0; i < column.length; i++) {
            s += cost[i][column[i]];
        }
        return s;
    }
}
