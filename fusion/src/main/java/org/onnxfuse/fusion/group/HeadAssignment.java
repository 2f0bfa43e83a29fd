package org.onnxfuse.fusion.group;

import java.util.ArrayList;
import java.util.List;

/**
 * Optimal assignment under attention's constraint: rows and columns are the neurons of
 * {@code heads} heads (each head's neurons consecutive), and a head may only be matched whole to
 * one head, its neurons in any order within it. Several cost matrices (spaces whose heads share
 * one order: an attention's query/key and value spaces) are matched with one head permutation,
 * the pair costs added up, and the neurons matched within each space's heads. O(H<sup>2</sup>)
 * assignments of d x d plus one of H x H.
 */
public final class HeadAssignment {
    private HeadAssignment() {
    }

    /** For each cost matrix (n x n, n a multiple of {@code heads}), the column of each row; minimal total cost. */
    public static List<int[]> solve(List<double[][]> costs, int heads) {
        double[][] headCost = new double[heads][heads];
        List<int[][][]> within = new ArrayList<>();
        for (double[][] cost : costs) {
            int n = cost.length;
            if (heads < 1 || n % heads != 0) {
                throw new IllegalArgumentException(n + " neurons cannot split into " + heads + " heads");
            }
            int dim = n / heads;
            int[][][] match = new int[heads][heads][];
            for (int h = 0; h < heads; h++) {
                for (int g = 0; g < heads; g++) {
                    double[][] c = new double[dim][dim];
                    for (int a = 0; a < dim; a++) {
                        if (cost[h * dim + a].length != n) {
                            throw new IllegalArgumentException("expected a square cost matrix of " + n + " columns");
                        }
                        System.arraycopy(cost[h * dim + a], g * dim, c[a], 0, dim);
                    }
                    match[h][g] = LinearAssignment.solve(c);
                    for (int a = 0; a < dim; a++) {
                        headCost[h][g] += c[a][match[h][g][a]];
                    }
                }
            }
            within.add(match);
        }
        int[] headMatch = LinearAssignment.solve(headCost);
        List<int[]> out = new ArrayList<>();
        for (int x = 0; x < costs.size(); x++) {
            int n = costs.get(x).length;
            int dim = n / heads;
            int[] colOfRow = new int[n];
            for (int h = 0; h < heads; h++) {
                int g = headMatch[h];
                for (int a = 0; a < dim; a++) {
                    colOfRow[h * dim + a] = g * dim + within.get(x)[h][g][a];
                }
            }
            out.add(colOfRow);
        }
        return out;
    }

    /** One cost matrix: {@link #solve(List, int)} of it alone. */
    public static int[] solve(double[][] cost, int heads) {
        return solve(List.<double[][]>of(cost), heads).get(0);
    }
}
