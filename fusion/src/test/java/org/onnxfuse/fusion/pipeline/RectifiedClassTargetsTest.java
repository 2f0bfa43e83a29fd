package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;
import org.junit.jupiter.api.Test;

class RectifiedClassTargetsTest {

    /** Relu of the weighted mean of the rewritten entries is the weighted mean of the parents' Relu outputs. */
    @Test
    void weightedMeanAfterReluIsKeptForAnyNonNegativeWeights() {
        Random random = new Random(7);
        int parents = 3;
        int classes = 5;
        int rows = 200;
        int m = parents * classes;
        float[] a = new float[rows * m];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) random.nextGaussian();
        }
        float[] raw = a.clone();
        new RectifiedClassTargets(parents, classes).apply(a, m, rows);
        for (int trial = 0; trial < 20; trial++) {
            double[] u = new double[parents];
            double sum = 0;
            for (int k = 0; k < parents; k++) {
                u[k] = trial == 0 && k > 0 ? 0 : random.nextDouble();
                sum += u[k];
            }
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < classes; c++) {
                    double mapped = 0;
                    double wanted = 0;
                    for (int k = 0; k < parents; k++) {
                        int i = r * m + k * classes + c;
                        mapped += u[k] / sum * a[i];
                        wanted += u[k] / sum * Math.max(raw[i], 0);
                    }
                    assertEquals(wanted, Math.max(mapped, 0), 1e-6, "row " + r + " class " + c);
                }
            }
        }
    }

    @Test
    void entriesNoParentActivatesStayAsTheyAre() {
        float[] a = {-1f, 2f, -3f, -0.5f};
        new RectifiedClassTargets(2, 2).apply(a, 4, 1);
        // class 0: -1 and -3, no parent positive: kept; class 1: 2 and -0.5: rectified
        assertArrayEquals(new float[] {-1f, 2f, -3f, 0f}, a);
    }

    @Test
    void aBatchOfAnotherWidthIsAnError() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> new RectifiedClassTargets(2, 10).apply(new float[30], 30, 1));
        assertEquals("class targets of 2 parents x 10 classes, but a batch of 30 columns", e.getMessage());
    }
}
