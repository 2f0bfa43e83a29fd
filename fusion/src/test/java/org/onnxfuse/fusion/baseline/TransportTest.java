package org.onnxfuse.fusion.baseline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.group.LinearAssignment;

/** Known answers for exact optimal transport and the neuron maps built from plans. */
class TransportTest {

    private static double[][] random(Random r, int n, int m) {
        double[][] c = new double[n][m];
        for (double[] row : c) {
            for (int j = 0; j < m; j++) {
                row[j] = r.nextInt(5) == 0 ? 1.0 : r.nextDouble() * 10 - 3;  // ties and negatives included
            }
        }
        return c;
    }

    private static double assignmentCost(double[][] c) {
        int[] col = LinearAssignment.solve(c);
        double s = 0;
        for (int i = 0; i < col.length; i++) {
            s += c[i][col[i]];
        }
        return s;
    }

    /** Uniform marginals as integers; the optimum equals the assignment on replicated nodes. */
    @Test
    void matchesTheAssignmentOnReplicatedNodes() {
        Random r = new Random(12);
        for (int trial = 0; trial < 150; trial++) {
            int n = 1 + r.nextInt(5);
            int m = 1 + r.nextInt(5);
            double[][] c = random(r, n, m);
            long[] supply = new long[n];
            long[] demand = new long[m];
            Arrays.fill(supply, m);
            Arrays.fill(demand, n);
            long[][] flow = Transport.solve(c, supply, demand);
            double cost = 0;
            for (int i = 0; i < n; i++) {
                long out = 0;
                for (int j = 0; j < m; j++) {
                    assertEquals(true, flow[i][j] >= 0);
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
            double[][] big = new double[n * m][n * m];
            for (int a = 0; a < n * m; a++) {
                for (int b = 0; b < n * m; b++) {
                    big[a][b] = c[a / m][b / n];
                }
            }
            assertEquals(assignmentCost(big), cost, 1e-9, "trial " + trial);
        }
    }

    @Test
    void unitMassesGiveTheOptimalPermutation() {
        double[][] c = {{5, 1, 9}, {2, 8, 7}, {6, 4, 0}};
        long[][] flow = Transport.solve(c, new long[] {1, 1, 1}, new long[] {1, 1, 1});
        assertArrayEquals(new long[][] {{0, 1, 0}, {1, 0, 0}, {0, 0, 1}}, flow);
        assertArrayEquals(new int[] {1, 0, 2}, ActivationMatching.match(c).permutation());
    }

    /** Three fused neurons from two parent neurons: the middle one is half of each. */
    @Test
    void barycentricProjectionOfAWiderTarget() {
        double[][] cost = {{0, 4}, {1, 1}, {4, 0}};
        long[][] plan = Transport.solve(cost, new long[] {2, 2, 2}, new long[] {3, 3});
        assertArrayEquals(new long[][] {{2, 0}, {1, 1}, {0, 2}}, plan);
        NeuronMap map = ActivationMatching.match(cost);
        assertEquals(3, map.width());
        assertEquals(2, map.sourceWidth());
        assertArrayEquals(new int[] {0}, map.sources(0));
        assertArrayEquals(new int[] {0, 1}, map.sources(1));
        assertArrayEquals(new double[] {0.5, 0.5}, map.coefficients(1));
        double[][] w = {{1, 3}, {10, 30}};
        assertArrayEquals(new double[] {1, 2, 3}, map.mapColumns(w)[0]);
        double[][] rows = map.mapInputRows(new double[][] {{1}, {3}, {7}}, true, new org.onnxfuse.fusion.plan.InputLayout(1, 1));
        assertArrayEquals(new double[][] {{1}, {2}, {3}, {7}}, rows);
    }

    @Test
    void rejectsUnbalancedMasses() {
        assertThrows(IllegalArgumentException.class,
                () -> Transport.solve(new double[2][2], new long[] {1, 1}, new long[] {1, 2}));
    }
}
