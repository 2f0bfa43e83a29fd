package org.onnxfuse.fusion.group;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.onnxfuse.kernels.Backends;
import org.onnxfuse.kernels.ComputeBackend;

class LastLevelTargetsTest {
    private static final int CLASSES = 4;
    private static final int PARENTS = 3;
    private static final int D = 6;

    private static ComputeBackend backend;
    private static double[][][] logitWeights;
    private static LevelData data;

    @BeforeAll
    static void open() {
        backend = Backends.open("cpu", 1);
        SplittableRandom random = new SplittableRandom(8);
        double[][] x = LevelData.randomInputs(random, 200, D - 1);
        logitWeights = new double[PARENTS][][];
        double[][][] logits = new double[PARENTS][][];
        for (int k = 0; k < PARENTS; k++) {
            logitWeights[k] = LevelData.randomWeights(random, D, CLASSES);
            logits[k] = LevelData.targets(x, logitWeights[k], 0.0, random);
        }
        data = new LevelData(x, LevelData.concat(logits));
    }

    @AfterAll
    static void close() {
        backend.close();
    }

    @Test
    void uniformScoresGiveTheMeanOfTheParentsLogitWeights() {
        NeuronLayout layout = NeuronLayout.of(CLASSES, CLASSES, CLASSES);
        Grouping grouping = LastLevelTargets.classMeans(backend, data.plainStatistics(), layout, null,
                GroupingConfig.defaults().withRidgeFactor(1e-12));
        assertEquals(GroupingMethod.CLASS_MEAN, grouping.method());
        for (int c = 0; c < CLASSES; c++) {
            for (int k = 0; k < PARENTS; k++) {
                assertEquals(c, grouping.groupOf(k * CLASSES + c));
            }
            for (int f = 0; f < D; f++) {
                double mean = (logitWeights[0][f][c] + logitWeights[1][f][c] + logitWeights[2][f][c]) / 3;
                assertEquals(mean, grouping.fusedWeights().get(f, c), 1e-8);
            }
        }
    }

    @Test
    void scoresWeighTheParentsClassByClass() {
        NeuronLayout layout = NeuronLayout.of(CLASSES, CLASSES, CLASSES);
        // Each parent's scores already sum to 1, so per-parent normalisation leaves them alone.
        double[] s = {0.1, 0.2, 0.3, 0.4, 0.25, 0.25, 0.25, 0.25, 0.7, 0.1, 0.1, 0.1};
        ProjectedTargets fit = ProjectedTargets.fit(backend, data.plainStatistics(), 1e-12);
        Grouping grouping = LastLevelTargets.classMeans(backend, fit, layout, s);
        for (int c = 0; c < CLASSES; c++) {
            double total = s[c] + s[CLASSES + c] + s[2 * CLASSES + c];
            for (int f = 0; f < D; f++) {
                double expected = (s[c] * logitWeights[0][f][c] + s[CLASSES + c] * logitWeights[1][f][c]
                        + s[2 * CLASSES + c] * logitWeights[2][f][c]) / total;
                assertEquals(expected, grouping.fusedWeights().get(f, c), 1e-8);
            }
        }
    }

    @Test
    void parentsMustHaveTheSameClasses() {
        ProjectedTargets fit = ProjectedTargets.fit(backend, data.plainStatistics(), 1e-6);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LastLevelTargets.classMeans(backend, fit, NeuronLayout.of(4, 4, 3, 1), null));
        assertEquals(true, e.getMessage().contains("same number of classes"));
    }
}
