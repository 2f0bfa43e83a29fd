package org.onnxfuse.fusion.group;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LinearAssignmentTest {
    /** Every injection rows -> columns, by recursion; returns {bestCost} and fills best. */
    static double bruteForce(double[][] cost, int[] best) {
        int rows = cost.length;
        int cols = cost[0].length;
        double[] bestCost = {Double.POSITIVE_INFINITY};
        enumerate(cost, 0, new int[rows], new boolean[cols], 0.0, bestCost, best);
        return bestCost[0];
    }

    private static void enumerate(double[][] cost, int row, int[] current, boolean[] used, double sum,
                                  double[] bestCost, int[] best) {
        if (row == cost.length) {
            if (sum < bestCost[0]) {
                bestCost[0] = sum;
                System.arraycopy(current, 0, best, 0, current.length);
            }
            return;
        }
        for (int c = 0; c < used.length; c++) {
            if (!used[c]) {
                used[c] = true;
                current[row] = c;
                enumerate(cost, row + 1, current, used, sum + cost[row][c], bestCost, best);
                used[c] = false;
            }
        }
    }

    private static double total(double[][] cost, int[] colOfRow) {
        double sum = 0.0;
        for (int r = 0; r < colOfRow.length; r++) {
            sum += cost[r][colOfRow[r]];
        }
        return sum;
    }

    @Test
    void matchesBruteForceOnRandomSquareAndRectangularProblems() {
        SplittableRandom random = new SplittableRandom(7);
        for (int trial = 0; trial < 200; trial++) {
            int rows = 1 + random.nextInt(6);
            int cols = rows + random.nextInt(3);
            double[][] cost = new double[rows][cols];
            for (double[] row : cost) {
                for (int c = 0; c < cols; c++) {
                    row[c] = random.nextDouble() * 10 - 3; // negative costs too
                }
            }
            int[] expected = new int[rows];
            double optimum = bruteForce(cost, expected);
            int[] found = LinearAssignment.solve(cost);
            assertEquals(optimum, total(cost, found), 1e-12, "trial " + trial);
            assertArrayEquals(expected, found, "trial " + trial); // continuous costs: unique optimum
        }
    }

    @Test
    void knownSmallCase() {
        double[][] cost = {{4, 1, 3}, {2, 0, 5}, {3, 2, 2}};
        assertArrayEquals(new int[] {1, 0, 2}, LinearAssignment.solve(cost));
        assertArrayEquals(new int[0], LinearAssignment.solve(new double[0][0]));
    }

    @Test
    void rejectsMoreRowsThanColumnsAndNonFiniteCosts() {
        assertThrows(IllegalArgumentException.class, () -> LinearAssignment.solve(new double[][] {{1}, {2}}));
        assertThrows(IllegalArgumentException.class, () -> LinearAssignment.solve(new double[][] {{Double.NaN}}));
        assertThrows(IllegalArgumentException.class, () -> LinearAssignment.solve(new double[][] {{1, 2}, {3}}));
    }
}
