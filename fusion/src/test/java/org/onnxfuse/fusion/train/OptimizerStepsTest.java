package org.onnxfuse.fusion.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.testing.Fingerprint;
import org.onnxfuse.kernels.Backends;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.OptimizerSteps;

/**
 * The optimisers' steps moved behind {@code ComputeBackend} (adamStep, sgdStep): the trainer must
 * compute the same bits as before. {@link #GOLDEN} holds fingerprints of the parameters after 25
 * steps of each variant, computed by the Java loops the optimisers had before the move.
 */
class OptimizerStepsTest {
    /** Fingerprints of {@link #variants()} from the loops in Adam.java and Sgd.java at commit 9ddb4dc. */
    static final long[] GOLDEN = {
        0xB50E0E97DE7F6184L, // adam L2 wd 0.0
        0x7A78199F7265BBD7L, // sgd L2 wd 0.0 momentum 0.0
        0x338671CCA05E2D6FL, // sgd L2 wd 0.0 momentum 0.9
        0xA35C08CA192D1E31L, // sgd L2 wd 0.0 momentum 0.9 nesterov
        0x10A598964E665A61L, // adam L2 wd 0.01
        0xFDF9E58CF002D72DL, // sgd L2 wd 0.01 momentum 0.0
        0x285D0117D1C15BA8L, // sgd L2 wd 0.01 momentum 0.9
        0xD1FC5B25E6994925L, // sgd L2 wd 0.01 momentum 0.9 nesterov
        0x8EC95D8A0729EECBL, // adam DECOUPLED wd 0.0
        0xEB3AA11B8D07F534L, // sgd DECOUPLED wd 0.0 momentum 0.0
        0x12FBD5421AF7C806L, // sgd DECOUPLED wd 0.0 momentum 0.9
        0xB08E00213CB0F4E7L, // sgd DECOUPLED wd 0.0 momentum 0.9 nesterov
        0x3FE47179975B7D73L, // adam DECOUPLED wd 0.01
        0xA1CADB2C6DCA1DD6L, // sgd DECOUPLED wd 0.01 momentum 0.0
        0x91516A9E4E50F4CEL, // sgd DECOUPLED wd 0.01 momentum 0.9
        0x0E6350A52FE85D07L, // sgd DECOUPLED wd 0.01 momentum 0.9 nesterov
    };

    private static final ParameterLayout LAYOUT = ParameterLayout.of(
            new ParameterSpec("w", List.of(37, 11), Initializer.fanIn(37)),
            new ParameterSpec("b", List.of(11), Initializer.fanIn(37)),
            new ParameterSpec("s", List.of(1), Initializer.fanIn(1)));

    record Variant(String name, TrainingSettings settings) {
    }

    static List<Variant> variants() {
        List<Variant> variants = new ArrayList<>();
        for (WeightDecayMode mode : WeightDecayMode.values()) {
            for (double decay : new double[] {0, 0.01}) {
                variants.add(new Variant("adam " + mode + " wd " + decay, TrainingSettings.builder()
                        .optimizer(OptimizerKind.ADAM).weightDecay(decay).weightDecayMode(mode).build()));
                for (double momentum : new double[] {0, 0.9}) {
                    for (boolean nesterov : momentum == 0 ? new boolean[] {false} : new boolean[] {false, true}) {
                        variants.add(new Variant("sgd " + mode + " wd " + decay + " momentum " + momentum
                                + (nesterov ? " nesterov" : ""), TrainingSettings.builder().optimizer(OptimizerKind.SGD)
                                .weightDecay(decay).weightDecayMode(mode).momentum(momentum).nesterov(nesterov)
                                .build()));
                    }
                }
            }
        }
        return variants;
    }

    /** 25 steps from random parameters with random gradients (some zero, some large), learning rate varying. */
    static long run(Optimizer optimizer, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[][] parameters = LAYOUT.zeros();
        for (float[] p : parameters) {
            for (int j = 0; j < p.length; j++) {
                p[j] = (float) random.nextGaussian();
            }
        }
        float[][] gradients = LAYOUT.zeros();
        Fingerprint fingerprint = new Fingerprint();
        for (int step = 0; step < 25; step++) {
            for (float[] g : gradients) {
                for (int j = 0; j < g.length; j++) {
                    int kind = random.nextInt(10);
                    g[j] = kind == 0 ? 0f : (float) (random.nextGaussian() * (kind == 1 ? 1e4 : kind == 2 ? 1e-6 : 1));
                }
            }
            optimizer.step(parameters, gradients, 0.003 * (1 + step % 4));
            for (float[] p : parameters) {
                fingerprint.add(p);
            }
        }
        return fingerprint.value();
    }

    /** Every variant through {@code steps} gives the old loops' bits. */
    static void assertGolden(OptimizerSteps steps) {
        List<Variant> variants = variants();
        assertEquals(GOLDEN.length, variants.size());
        for (int i = 0; i < variants.size(); i++) {
            Variant v = variants.get(i);
            assertEquals(GOLDEN[i], run(Optimizer.create(v.settings(), LAYOUT, steps), i),
                    () -> v.name() + " on " + steps);
        }
    }

    @Test
    void theTrainersOptimisersComputeTheOldBits() {
        List<Variant> variants = variants();
        for (int i = 0; i < variants.size(); i++) {
            Variant v = variants.get(i);
            assertEquals(GOLDEN[i], run(Optimizer.create(v.settings(), LAYOUT), i), v.name());
        }
    }

    @Test
    void theCpuBackendsStepsComputeTheOldBits() {
        assertGolden(OptimizerSteps.HOST);
        try (ComputeBackend cpu = Backends.open("cpu", 2)) {
            assertGolden(cpu);
        }
    }
}
