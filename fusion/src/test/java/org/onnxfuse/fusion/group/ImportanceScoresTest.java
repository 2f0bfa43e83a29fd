package org.onnxfuse.fusion.group;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class ImportanceScoresTest {
    @Test
    void eachParentSumsToOne() {
        NeuronLayout layout = NeuronLayout.of(2, 3);
        double[] s = ImportanceScores.normalisedPerParent(layout, new double[] {1, 3, 2, 2, 4});
        assertArrayEquals(new double[] {0.25, 0.75, 0.25, 0.25, 0.5}, s, 1e-15);
    }

    @Test
    void uniformScoresOfUnequalWidthsGiveEachParentTheSameTotal() {
        NeuronLayout layout = NeuronLayout.of(2, 4);
        double[] s = ImportanceScores.normalisedPerParent(layout, ImportanceScores.uniform(layout));
        assertArrayEquals(new double[] {0.5, 0.5, 0.25, 0.25, 0.25, 0.25}, s, 1e-15);
    }

    @Test
    void rejectsMissingZeroAndNonFiniteScores() {
        NeuronLayout layout = NeuronLayout.of(2, 1);
        assertThrows(IllegalArgumentException.class, () -> ImportanceScores.normalisedPerParent(layout, null));
        assertThrows(IllegalArgumentException.class, () -> ImportanceScores.normalisedPerParent(layout, new double[2]));
        assertThrows(IllegalArgumentException.class,
                () -> ImportanceScores.normalisedPerParent(layout, new double[] {1, 0, 1}));
        assertThrows(IllegalArgumentException.class,
                () -> ImportanceScores.normalisedPerParent(layout, new double[] {1, Double.NaN, 1}));
        assertThrows(IllegalArgumentException.class,
                () -> ImportanceScores.normalisedPerParent(layout, new double[] {1, Double.POSITIVE_INFINITY, 1}));
    }
}
