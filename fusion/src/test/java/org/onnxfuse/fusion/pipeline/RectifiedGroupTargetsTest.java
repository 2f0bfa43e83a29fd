package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.group.Group;

class RectifiedGroupTargetsTest {
    private static Group group(int... members) {
        double[] w = new double[members.length];
        java.util.Arrays.fill(w, 1.0 / members.length);
        return new Group(members, w, 0);
    }

    /**
     * For Relu6 (Clip 0, 6) and groups of 1 to 3 members: the clamp of any non-negative weighted
     * mean of the rewritten entries is the weighted mean of the members' clamped values.
     */
    @Test
    void theClampOfTheWeightedMeanIsTheMeanOfTheClampedMembers() {
        Random random = new Random(11);
        List<Group> groups = List.of(group(0, 3, 5), group(1, 4), group(2));
        int m = 6;
        int rows = 300;
        float[] a = new float[rows * m];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (4 * random.nextGaussian() + 2);
        }
        float[] raw = a.clone();
        new RectifiedGroupTargets(groups, m, 0f, 6f).apply(a, m, rows);
        for (int trial = 0; trial < 20; trial++) {
            for (Group g : groups) {
                double[] u = new double[g.members().length];
                double sum = 0;
                for (int j = 0; j < u.length; j++) {
                    u[j] = trial == 0 && j > 0 ? 0 : random.nextDouble();
                    sum += u[j];
                }
                for (int r = 0; r < rows; r++) {
                    double mapped = 0;
                    double wanted = 0;
                    for (int j = 0; j < u.length; j++) {
                        int i = r * m + g.members()[j];
                        mapped += u[j] / sum * a[i];
                        wanted += u[j] / sum * Math.min(Math.max(raw[i], 0), 6);
                    }
                    assertEquals(wanted, Math.min(Math.max(mapped, 0), 6), 1e-5, "row " + r);
                }
            }
        }
    }

    @Test
    void groupsBeyondOneBoundStayAsTheyAre() {
        List<Group> groups = List.of(group(0, 2), group(1, 3));
        float[] a = {-1f, 7f, -3f, 9f, /* row 2 */ -1f, 7f, 2f, 5f};
        new RectifiedGroupTargets(groups, 4, 0f, 6f).apply(a, 4, 2);
        // row 1: both groups lie beyond one bound (all <= 0, all >= 6): kept;
        // row 2: both groups are mixed: clamped
        assertArrayEquals(new float[] {-1f, 7f, -3f, 9f, 0f, 6f, 2f, 5f}, a);
    }

    @Test
    void reluHasNoUpperBound() {
        float[] a = {-1f, 100f, 3f, -2f};
        new RectifiedGroupTargets(List.of(group(0, 1), group(2, 3)), 4, 0f, Float.POSITIVE_INFINITY).apply(a, 4, 1);
        assertArrayEquals(new float[] {0f, 100f, 3f, 0f}, a);
    }

    @Test
    void aBatchOfAnotherWidthIsAnError() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> new RectifiedGroupTargets(List.of(group(0, 1)), 2, 0f, 6f).apply(new float[6], 3, 2));
        assertEquals("targets of 2 parent neurons, but a batch of 3 columns", e.getMessage());
    }
}
