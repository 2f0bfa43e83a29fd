package org.onnxfuse.fusion.group;

import java.util.Arrays;

/**
 * Minimum-cost assignment of every row to a distinct column (rows <= columns): the Hungarian
 * (Kuhn-Munkres) method in its shortest-augmenting-path form with row and column potentials,
 * O(rows<sup>2</sup> columns). Costs may be any finite reals, negative included.
 */
public final class LinearAssignment {
    private LinearAssignment() {
    }

    /**
     * @param cost {@code cost[r][c]}, rows x columns with rows <= columns
     * @return for each row, its column
     * @throws IllegalArgumentException for ragged or non-finite costs, or more rows than columns
     */
    public static int[] solve(double[][] cost) {
        int rows = cost.length;
        if (rows == 0) {
            return new int[0];
        }
        int cols = cost[0].length;
        if (rows > cols) {
            throw new IllegalArgumentException("expected at most as many rows as columns, found " + rows + " x " + cols
                    + "; transpose the problem");
        }
        for (int r = 0; r < rows; r++) {
            if (cost[r].length != cols) {
                throw new IllegalArgumentException("row " + r + " has " + cost[r].length + " costs, expected " + cols);
            }
            for (int c = 0; c < cols; c++) {
                if (!Double.isFinite(cost[r][c])) {
                    throw new IllegalArgumentException("cost[" + r + "][" + c + "] must be finite, found " + cost[r][c]);
                }
            }
        }
        // 1-based, with column 0 a virtual column that holds the row being inserted.
        double[] rowPotential = new double[rows + 1];
        double[] colPotential = new double[cols + 1];
        int[] rowOfCol = new int[cols + 1]; // 0 = free
        int[] previousCol = new int[cols + 1];
        double[] slack = new double[cols + 1];
        boolean[] visited = new boolean[cols + 1];
        for (int row = 1; row <= rows; row++) {
            // Grow a shortest-path tree (reduced costs are >= 0) from the new row until it reaches
            // a free column, then flip the alternating path.
            rowOfCol[0] = row;
            int col = 0;
            Arrays.fill(slack, Double.POSITIVE_INFINITY);
            Arrays.fill(visited, false);
            do {
                visited[col] = true;
                int r = rowOfCol[col];
                double delta = Double.POSITIVE_INFINITY;
                int nextCol = -1;
                for (int c = 1; c <= cols; c++) {
                    if (!visited[c]) {
                        double reduced = cost[r - 1][c - 1] - rowPotential[r] - colPotential[c];
                        if (reduced < slack[c]) {
                            slack[c] = reduced;
                            previousCol[c] = col;
                        }
                        if (slack[c] < delta) {
                            delta = slack[c];
                            nextCol = c;
                        }
                    }
                }
                for (int c = 0; c <= cols; c++) {
                    if (visited[c]) {
                        rowPotential[rowOfCol[c]] += delta;
                        colPotential[c] -= delta;
                    } else {
                        slack[c] -= delta;
                    }
                }
                col = nextCol;
            } while (rowOfCol[col] != 0);
            do {
                int prev = previousCol[col];
                rowOfCol[col] = rowOfCol[prev];
                col = prev;
            } while (col != 0);
        }
        int[] colOfRow = new int[rows];
        for (int c = 1; c <= cols; c++) {
            if (rowOfCol[c] != 0) {
                colOfRow[rowOfCol[c] - 1] = c - 1;
            }
        }
        return colOfRow;
    }
}
