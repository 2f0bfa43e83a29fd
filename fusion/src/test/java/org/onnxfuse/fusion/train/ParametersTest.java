package org.onnxfuse.fusion.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Parameter descriptions and starting points. */
class ParametersTest {
    private static final ParameterLayout LAYOUT = ParameterLayout.of(
            new ParameterSpec("fc.weight", List.of(8, 16), Initializer.fanIn(16)),
            new ParameterSpec("ln.scale", List.of(8), new Initializer.Constant(1)));

    @Test
    void aLayoutChecksValuesAgainstItsShapes() {
        assertEquals(136, LAYOUT.totalSize());
        assertEquals("parameter values of 'ln.scale' [8]: expected 8 values, found 7",
                assertThrows(IllegalArgumentException.class,
                        () -> LAYOUT.copyOf(new float[][] {new float[128], new float[7]})).getMessage());
        assertThrows(IllegalArgumentException.class, () -> LAYOUT.copyOf(new float[][] {new float[128]}));
        assertThrows(IllegalArgumentException.class, () -> ParameterLayout.of(
                new ParameterSpec("w", List.of(2), Initializer.fanIn(2)),
                new ParameterSpec("w", List.of(3), Initializer.fanIn(2))));
        assertThrows(IllegalArgumentException.class, () -> new ParameterSpec("w", List.of(2, 0), Initializer.fanIn(2)));
    }

    @Test
    void reinitialisationDrawsWithinTheFanInBoundOrTheConstant() {
        float[][] fresh = StartingPoint.REINITIALISE.apply(LAYOUT, LAYOUT.zeros(), new SplittableRandom(1));
        double bound = 1 / Math.sqrt(16);
        double spread = 0;
        for (float v : fresh[0]) {
            assertTrue(Math.abs(v) <= bound, v + " outside +-" + bound);
            spread = Math.max(spread, Math.abs(v));
        }
        assertTrue(spread > bound / 2, "the draws must fill the range, largest " + spread);
        for (float v : fresh[1]) {
            assertEquals(1f, v);
        }
    }

    /** theta <- (1 - epsilon) theta + epsilon theta_fresh, theta_fresh the same draws as a re-initialisation's. */
    @Test
    void perturbationMixesTheGivenAndFreshValues() {
        float[][] given = LAYOUT.zeros();
        for (int i = 0; i < given[0].length; i++) {
            given[0][i] = i * 0.01f;
        }
        java.util.Arrays.fill(given[1], 3f);
        float[][] fresh = StartingPoint.REINITIALISE.apply(LAYOUT, given, new SplittableRandom(4));
        float[][] perturbed = StartingPoint.perturb(0.25).apply(LAYOUT, given, new SplittableRandom(4));
        for (int p = 0; p < given.length; p++) {
            for (int i = 0; i < given[p].length; i++) {
                assertEquals((float) (0.75 * given[p][i] + 0.25 * fresh[p][i]), perturbed[p][i]);
            }
        }
        assertEquals(2.5f, perturbed[1][0]);
        float[][] kept = StartingPoint.KEEP.apply(LAYOUT, given, new SplittableRandom(4));
        assertArrayEquals(given[0], kept[0]);
        assertNotEquals(given[0], kept[0], "the start is a copy");
    }
}
