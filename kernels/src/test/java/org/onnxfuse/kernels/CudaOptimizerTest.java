package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The optimiser steps on the device (optimizer.cu) give the host loops' bits: parameters and state
 * after several steps of Adam and SGD in every variant the trainer has (L2 or decoupled decay, with
 * and without momentum, Nesterov), on sizes around the block size and beyond one grid (the kernels
 * stride), with zeros, signed zeros, subnormals and values whose squares overflow float32. Runs only
 * where CUDA works ({@code -Dgroups=gpu}).
 */
@Tag("gpu")
class CudaOptimizerTest extends WithCpuAndCuda {
    private static final int[] SIZES = {1, 255, 256, 257, 4099, 1_000_003};

    /** Gaussians, with every 10th value one of the awkward ones. */
    static float[] values(SplittableRandom rng, int n, double scale) {
        float[] v = new float[n];
        float[] awkward = {0f, -0f, 1e-40f, -3e-39f, 1e30f, -2e25f, Float.MIN_VALUE, 65504f};
        for (int i = 0; i < n; i++) {
            v[i] = rng.nextInt(10) == 0 ? awkward[rng.nextInt(awkward.length)] : (float) (rng.nextGaussian() * scale);
        }
        return v;
    }

    @Test
    void adamStepsAreBitIdentical() {
        SplittableRandom rng = new SplittableRandom(81);
        for (int n : SIZES) {
            for (double[] decay : new double[][] {{0, 1}, {0.01, 1}, {0, 1 - 0.003 * 0.05}}) {
                float[] p = values(rng, n, 1);
                float[] m1 = new float[n];
                float[] m2 = new float[n];
                float[][] onDevice = {p.clone(), m1.clone(), m2.clone()};
                for (int t = 1; t <= 4; t++) {
                    float[] g = values(rng, n, t == 3 ? 1e3 : 0.1);
                    double lr = 0.003 * t;
                    AdamStep step = new AdamStep(0.9, 0.999, 1e-8, decay[0], decay[1], lr / (1 - Math.pow(0.9, t)),
                            Math.sqrt(1 - Math.pow(0.999, t)));
                    cpu.adamStep(p, g, m1, m2, step);
                    cuda.adamStep(onDevice[0], g, onDevice[1], onDevice[2], step);
                    String what = "n " + n + ", l2 " + decay[0] + ", keep " + decay[1] + ", step " + t;
                    assertArrayEquals(p, onDevice[0], what + ": parameters");
                    assertArrayEquals(m1, onDevice[1], what + ": first moment");
                    assertArrayEquals(m2, onDevice[2], what + ": second moment");
                }
            }
        }
    }

    @Test
    void sgdStepsAreBitIdentical() {
        SplittableRandom rng = new SplittableRandom(82);
        for (int n : SIZES) {
            for (double momentum : new double[] {0, 0.9}) {
                for (boolean nesterov : momentum == 0 ? new boolean[] {false} : new boolean[] {false, true}) {
                    for (double[] decay : new double[][] {{0, 1}, {0.01, 1}, {0, 1 - 0.1 * 0.05}}) {
                        float[] p = values(rng, n, 1);
                        float[] b = new float[n];
                        float[][] onDevice = {p.clone(), b.clone()};
                        for (int t = 1; t <= 4; t++) {
                            float[] g = values(rng, n, t == 2 ? 1e3 : 0.1);
                            SgdStep step = new SgdStep(momentum, nesterov, decay[0], decay[1], 0.1 / t);
                            cpu.sgdStep(p, g, b, step);
                            cuda.sgdStep(onDevice[0], g, onDevice[1], step);
                            String what = "n " + n + ", momentum " + momentum + (nesterov ? " nesterov" : "")
                                    + ", l2 " + decay[0] + ", keep " + decay[1] + ", step " + t;
                            assertArrayEquals(p, onDevice[0], what + ": parameters");
                            assertArrayEquals(b, onDevice[1], what + ": velocity");
                        }
                    }
                }
            }
        }
    }

    @Test
    void emptyAndMismatchedBuffers() {
        AdamStep adam = new AdamStep(0.9, 0.999, 1e-8, 0, 1, 0.01, 0.03);
        cuda.adamStep(new float[0], new float[0], new float[0], new float[0], adam);
        cuda.sgdStep(new float[0], new float[0], new float[0], new SgdStep(0, false, 0, 1, 0.1));
        assertThrows(IllegalArgumentException.class,
                () -> cuda.adamStep(new float[3], new float[3], new float[2], new float[3], adam));
        assertThrows(IllegalArgumentException.class,
                () -> cuda.sgdStep(new float[3], new float[4], new float[3], new SgdStep(0, false, 0, 1, 0.1)));
    }
}
