package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * The kept C U of {@link NearestGroups}: after any sequence of updates, each step's results are
 * the bits a fresh search (every group summed anew) gives, only the changed groups are summed, and
 * the split into tasks changes nothing.
 */
class NearestGroupsTest {
    private static final Consumer<List<Runnable>> IN_ORDER = tasks -> tasks.forEach(Runnable::run);

    private record Result(int[] next, double[] nextD2, double[] currentD2) {
        void assertSameBits(Result other, String what) {
            assertArrayEquals(next, other.next, what);
            assertTrue(Arrays.equals(nextD2, other.nextD2), what + ": next distances");
            assertTrue(Arrays.equals(currentD2, other.currentD2), what + ": current distances");
        }
    }

    private static Result search(NearestGroups groups, int m, int[] current, double[] quadratic, double[] norms) {
        int[] next = new int[m];
        double[] nextD2 = new double[m];
        double[] currentD2 = current == null ? null : new double[m];
        groups.search(current, quadratic, norms, currentD2, next, nextD2);
        return new Result(next, nextD2, currentD2);
    }

    @Test
    void keptColumnsGiveTheBitsOfAFreshSumAndOnlyChangedGroupsAreSummed() {
        SplittableRandom rng = new SplittableRandom(5);
        int m = 60;
        GramProblem p = GramProblem.random(rng, m, 50);
        NearestGroups kept = new NearestGroups(p.cross(), m, 1, IN_ORDER);
        NearestGroups split = new NearestGroups(p.cross(), m, 7, IN_ORDER);
        int k = 9;
        int[] owner = GramProblem.randomIds(rng, m, k, true);
        double[] weight = GramProblem.groupWeights(rng, owner, k);
        long summedBefore = 0;
        for (int step = 0; step < 12; step++) {
            if (step == 8) {
                k = 6; // another k: every column anew
                owner = GramProblem.randomIds(rng, m, k, true);
                weight = GramProblem.groupWeights(rng, owner, k);
            } else if (step > 0) {
                // move a few neurons, and at step 5 change one weight only
                owner = owner.clone();
                weight = weight.clone();
                if (step == 5) {
                    int j = firstMember(owner);
                    weight[j] = weight[j] * 0.5;
                } else {
                    for (int moves = 0; moves < 1 + step % 3; moves++) {
                        owner[rng.nextInt(m)] = rng.nextInt(k + 1) - 1;
                    }
                }
            }
            double[] quadratic = new double[k];
            for (int g = 0; g < k; g++) {
                quadratic[g] = rng.nextDouble() * 3;
            }
            int[] current = step % 2 == 0 ? null : GramProblem.randomIds(rng, m, k, false);
            NearestGroups fresh = new NearestGroups(p.cross(), m, 3, IN_ORDER);
            boolean[] all = fresh.update(k, owner, weight);
            for (boolean b : all) {
                assertTrue(b, "a first update sums every column");
            }
            Result expected = search(fresh, m, current, quadratic, p.norms());
            int[] before = step == 0 || step == 8 ? null : previousOwner;
            double[] beforeWeight = previousWeight;
            boolean[] changed = kept.update(k, owner, weight);
            split.update(k, owner, weight);
            expected.assertSameBits(search(kept, m, current, quadratic, p.norms()), "kept, step " + step);
            expected.assertSameBits(search(split, m, current, quadratic, p.norms()), "7 tasks, step " + step);
            int count = 0;
            for (int g = 0; g < k; g++) {
                count += changed[g] ? 1 : 0;
                if (before != null) {
                    assertEquals(changed(g, before, beforeWeight, owner, weight), changed[g], "group " + g + ", step " + step);
                }
            }
            assertEquals(summedBefore + count, kept.columnsSummed());
            summedBefore = kept.columnsSummed();
            if (before != null && step != 8) {
                assertTrue(count < k, "step " + step + " summed every column: " + count);
            }
            previousOwner = owner;
            previousWeight = weight;
        }
    }

    private int[] previousOwner;
    private double[] previousWeight;

    private static boolean changed(int g, int[] before, double[] beforeWeight, int[] owner, double[] weight) {
        for (int j = 0; j < owner.length; j++) {
            boolean was = before[j] == g;
            boolean is = owner[j] == g;
            if (was != is || (is && beforeWeight[j] != weight[j])) {
                return true;
            }
        }
        return false;
    }

    private static int firstMember(int[] owner) {
        for (int j = 0; j < owner.length; j++) {
            if (owner[j] >= 0) {
                return j;
            }
        }
        throw new IllegalStateException("no member");
    }

    @Test
    void theCpuGramFormKeepsItsColumnsAcrossStepsWithTheSameResults() {
        SplittableRandom rng = new SplittableRandom(8);
        int m = 45;
        GramProblem p = GramProblem.random(rng, m, 40);
        int k = 5;
        try (ComputeBackend one = Backends.open("cpu", 1); ComputeBackend two = Backends.open("cpu", 2);
             GramKMeans a = one.openGramKMeans(p.cross(), p.gram(), p.norms(), m);
             GramKMeans b = two.openGramKMeans(p.cross(), p.gram(), p.norms(), m)) {
            int[] owner = GramProblem.randomIds(rng, m, k, false);
            for (int step = 0; step < 6; step++) {
                double[] weight = GramProblem.groupWeights(rng, owner, k);
                GramKMeans fresh = one.openGramKMeans(p.cross(), p.gram(), p.norms(), m);
                GramKMeans.Step expected = fresh.step(k, owner, weight, owner);
                fresh.close();
                for (GramKMeans kMeans : List.of(a, b)) {
                    GramKMeans.Step got = kMeans.step(k, owner, weight, owner);
                    assertArrayEquals(expected.next(), got.next());
                    assertTrue(Arrays.equals(expected.nextSquaredDistance(), got.nextSquaredDistance()));
                    assertTrue(Arrays.equals(expected.currentSquaredDistance(), got.currentSquaredDistance()));
                }
                owner = expected.next().clone();
                owner[rng.nextInt(m)] = rng.nextInt(k);
            }
        }
    }

    @Test
    void searchBeforeUpdateAndBadArgumentsAreRefused() {
        double[] cross = new double[9];
        NearestGroups groups = new NearestGroups(cross, 3, 2, IN_ORDER);
        assertThrows(IllegalStateException.class, () -> groups.search(null, new double[1], new double[3], null,
                new int[3], new double[3]));
        assertThrows(IllegalArgumentException.class, () -> new NearestGroups(new double[8], 3, 1, IN_ORDER));
        assertThrows(IllegalArgumentException.class, () -> new NearestGroups(cross, 3, 0, IN_ORDER));
    }
}
