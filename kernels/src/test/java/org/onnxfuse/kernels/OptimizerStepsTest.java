package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The host optimiser steps (the CPU backend's): hand-computed values, state updates and argument checks. */
class OptimizerStepsTest {

    /** Bias-corrected Adam's first step is lr g / (|g| + epsilon): lr against the gradient's sign. */
    @Test
    void adamsFirstStepIsTheLearningRateAgainstTheSign() {
        float[] p = {1f, -2f, 0.5f};
        float[] g = {0.003f, -40f, 0f};
        float[] m1 = new float[3];
        float[] m2 = new float[3];
        try (ComputeBackend cpu = Backends.open("cpu", 1)) {
            cpu.adamStep(p, g, m1, m2, new AdamStep(0.9, 0.999, 1e-8, 0, 1, 0.1 / (1 - 0.9), Math.sqrt(1 - 0.999)));
        }
        assertEquals(0.9f, p[0], 1e-6);
        assertEquals(-1.9f, p[1], 1e-6);
        assertEquals(0.5f, p[2]);
        assertEquals((float) (0.1 * 0.003f), m1[0]);
        assertEquals((float) (0.001 * 40.0 * 40.0), m2[1], 1e-6);
    }

    /** Heavy ball: b = mu b + g, p -= lr b; Nesterov: p -= lr (g + mu b); L2 joins g; decoupled decay scales p. */
    @Test
    void sgdFollowsItsFormulas() {
        float[] heavy = {0f};
        float[] ahead = {0f};
        float[] bHeavy = {0f};
        float[] bAhead = {0f};
        for (int t = 0; t < 2; t++) {
            OptimizerSteps.HOST.sgdStep(heavy, new float[] {1f}, bHeavy, new SgdStep(0.5, false, 0, 1, 0.1));
            OptimizerSteps.HOST.sgdStep(ahead, new float[] {1f}, bAhead, new SgdStep(0.5, true, 0, 1, 0.1));
        }
        assertEquals(-0.25f, heavy[0], 1e-7);
        assertEquals(1.5f, bHeavy[0]);
        assertEquals(-0.15f - 0.175f, ahead[0], 1e-7);
        float[] p = {2f, 4f};
        OptimizerSteps.HOST.sgdStep(p, new float[] {0f, 1f}, new float[2], new SgdStep(0, false, 0.25, 1, 0.1));
        assertArrayEquals(new float[] {(float) (2 - 0.1 * 0.5), (float) (4 - 0.1 * 2)}, p);
        float[] q = {2f};
        OptimizerSteps.HOST.sgdStep(q, new float[] {0f}, new float[1], new SgdStep(0, false, 0, 0.75, 0.1));
        assertEquals(1.5f, q[0]);
    }

    /** The CPU backend runs the host loops. */
    @Test
    void theCpuBackendsStepsAreTheHosts() {
        SplittableRandom rng = new SplittableRandom(91);
        float[] p = CudaOptimizerTest.values(rng, 1000, 1);
        float[] g = CudaOptimizerTest.values(rng, 1000, 0.1);
        float[][] host = {p.clone(), new float[1000], new float[1000]};
        float[][] backend = {p.clone(), new float[1000], new float[1000]};
        AdamStep step = new AdamStep(0.9, 0.999, 1e-8, 0.01, 1, 0.01, 0.0316);
        OptimizerSteps.HOST.adamStep(host[0], g, host[1], host[2], step);
        try (ComputeBackend cpu = Backends.open("cpu", 2)) {
            cpu.adamStep(backend[0], g, backend[1], backend[2], step);
            assertThrows(IllegalArgumentException.class,
                    () -> cpu.sgdStep(new float[2], new float[2], new float[1], new SgdStep(0, false, 0, 1, 0.1)));
        }
        assertArrayEquals(host, backend);
    }
}
