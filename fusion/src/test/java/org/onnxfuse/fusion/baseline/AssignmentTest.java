package org.onnxfuse.fusion.baseline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** Known answers for the assignment and transport solvers against brute force. */
class AssignmentTest {

    private static double[][] random(Random r, int n, int m) {
        double[][] c = new double[n][m];
        for (double[] row : c) {
            for (int j = 0; j < m; j++) {
                row[j] = r.nextInt(5) == 0 ? 1.0 : r.nextDouble() * 10 - 3;  // ties included
            }
        }
        return c;
    }

    /** The least cost of injective maps of rows 0..n-1 into m columns, by enumeration. */
    private static double bruteForce(double[][] c, int row, boolean[] used) {
        if (row == c.length) {
            return 0;
        }
        double best = Double.POSITIVE_INFINITY;
        for (int j = 0; j < used.length; j++) {
            if (!used[j]) {
                used[j] = true;
                best = Math.min(best, c[row][j] + bruteForce(c, row + 1, used));
                used[j] = false;
            }
        }
        return best;
    }

    @Test
    void squareAndRectangularMatchBruteForce() {
        Random r = new Random(11);
        for (int trial = 0; trial < 300; trial++) {
            int n = 1 + r.nextInt(6);
            int m = n + r.nextInt(3);
            double[][] c = random(r, n, m);
            int[] col = Assignment.minimize(c);
            assertEquals(n, java.util.Arrays.stream(col).distinct().count(), "injective");
            assertEquals(bruteForce(c, 0, new boolean[m]), Assignment.cost(c, col), 1e-9, "trial " + trial);
        }
    }

    @Test
    void maximizeFindsAHiddenPermutation() {
        int[] hidden = Edits.shuffled(50, 7);
        double[][] score = new double[50][50];
        Random r = new Random(8);
        for (int i = 0; i < 50; i++) {
            for (int j = 0; j < 50; j++) {
                score[i][j] = r.nextDouble();
            }
            score[i][hidden[i]] = 2;
        }
        assertArrayEquals(hidden, Assignment.maximize(score));
    }

    @Test
    void moreRowsThanColumnsIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> Assignment.minimize(new double[3][2]));
    }

    @Test
    void transportMatchesAssignmentOnReplicatedNodes() {
        Random r = new Random(12);
        for (int trial = 0; trial < 100; trial++) {
            int n = 1 + r.nextInt(4);
            int m = 1 + r.nextInt(4);
            double[][] c = random(r, n, m);
            // uniform marginals as integers: m units per source, n per sink; n*m units in all
            long[] supply = new long[n];
            long[] demand = new long[m];
            java.util.Arrays.fill(supply, m);
            java.util.Arrays.fill(demand, n);
            long[][] flow = Transport.solve(c, supply, demand);
            double cost = 0;
            for (int i = 0; i < n; i++) {
                long out = 0;
                for (int j = 0; j < m; j++) {
                    out += flow[i][j];
                    cost += flow[i][j] * c[i][j];
                }
                assertEquals(m, out, "supply of source " + i);
            }
            for (int j = 0; j < m; j++) {
                long in = 0;
                for (int i = 0; i < n; i++) {
                    in += flow[i][j];
                }
                assertEquals(n, in, "demand of sink " + j);
            }
            // replicate each source m times and each sink n times: one unit per node
            double[][] big = new double[n * m][n * m];
            for (int a = 0; a < n * m; a++) {
                for (int b = 0; b < n * m; b++) {
                    big[a][b] = c[a / m][b / n];
                }
            }
            double optimum = Assignment.cost(big, Assignment.minimize(big));
            assertEquals(optimum, cost, 1e-9, "trial " + trial);
        }
    }

    @Test
    void transportPlanOfEqualWidthsIsTheAssignment() {
        double[][] c = {{5, 1, 9}, {2, 8, 7}, {6, 4, 0}};
        long[][] flow = Transport.solve(c, new long[] {1, 1, 1}, new long[] {1, 1, 1});
        assertArrayEquals(new long[][] {{0, 1, 0}, {1, 0, 0}, {0, 0, 1}}, flow);
        // three fused neurons from two parent neurons: 2 units each against 3 per parent neuron
        double[][] wide = {{0, 4}, {1, 1}, {4, 0}};
        long[][] plan = Transport.solve(wide, new long[] {2, 2, 2}, new long[] {3, 3});
        assertArrayEquals(new long[][] {{2, 0}, {1, 1}, {0, 2}}, plan);
        NeuronMap map = NeuronMap.barycentric(plan, 2);
        assertEquals(3, map.width());
        for (int i = 0; i < 3; i++) {
            assertEquals(1.0, java.util.Arrays.stream(map.coefficients(i)).sum(), 1e-12);
        }
        assertArrayEquals(new int[] {0, 1}, map.sources(1));
        assertArrayEquals(new double[] {0.5, 0.5}, map.coefficients(1));
    }
}
