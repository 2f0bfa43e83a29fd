package org.onnxfuse.fusion.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class OptimizerTest {
    private static final ParameterLayout TWO = ParameterLayout.of(
            new ParameterSpec("w", List.of(2), Initializer.fanIn(2)));

    /** Bias correction makes Adam's first step lr g / (|g| + epsilon): lr against the gradient's sign. */
    @Test
    void adamsFirstStepIsTheLearningRateAgainstTheGradientsSign() {
        float[][] p = {{1.0f, -2.0f}};
        new Adam(TWO, 0, WeightDecayMode.L2).step(p, new float[][] {{0.003f, -40f}}, 0.1);
        assertEquals(0.9f, p[0][0], 1e-6);
        assertEquals(-1.9f, p[0][1], 1e-6);
    }

    /** A constant gradient g: heavy ball steps lr g, then lr (1 + mu) g; Nesterov lr (1 + mu) g, then lr (1 + mu + mu^2) g. */
    @Test
    void sgdMomentumAndNesterovFollowPyTorch() {
        float[][] g = {{1.0f, -2.0f}};
        float[][] heavy = {{0, 0}};
        float[][] nesterov = {{0, 0}};
        Sgd plain = new Sgd(TWO, 0.5, false, 0, WeightDecayMode.L2);
        Sgd ahead = new Sgd(TWO, 0.5, true, 0, WeightDecayMode.L2);
        plain.step(heavy, g, 0.1);
        ahead.step(nesterov, g, 0.1);
        assertEquals(-0.1f, heavy[0][0], 1e-7);
        assertEquals(-0.15f, nesterov[0][0], 1e-7);
        plain.step(heavy, g, 0.1);
        ahead.step(nesterov, g, 0.1);
        assertEquals(-0.1f - 0.15f, heavy[0][0], 1e-7);
        assertEquals(0.3f + 0.35f, nesterov[0][1], 1e-6);
    }

    /** Decoupled decay without gradient shrinks theta by exactly (1 - lr wd) per step, towards 0. */
    @ParameterizedTest
    @EnumSource(OptimizerKind.class)
    void decoupledWeightDecayShrinksGeometricallyTowardsZero(OptimizerKind kind) {
        TrainingSettings settings = TrainingSettings.builder().optimizer(kind).weightDecay(0.5)
                .weightDecayMode(WeightDecayMode.DECOUPLED).build();
        Optimizer optimizer = Optimizer.create(settings, TWO);
        float[][] p = {{3.0f, -1.5f}};
        float[][] zero = {{0, 0}};
        for (int step = 0; step < 40; step++) {
            optimizer.step(p, zero, 0.1);
        }
        double factor = Math.pow(1 - 0.1 * 0.5, 40);
        assertEquals(3.0 * factor, p[0][0], 1e-5);
        assertEquals(-1.5 * factor, p[0][1], 1e-5);
    }

    /** L2 decay is part of the gradient: with a zero loss gradient, SGD without momentum shrinks by (1 - lr wd) too. */
    @Test
    void l2WeightDecayJoinsTheGradient() {
        float[][] p = {{2.0f, 4.0f}};
        new Sgd(TWO, 0, false, 0.25, WeightDecayMode.L2).step(p, new float[][] {{0, 1}}, 0.1);
        assertEquals(2.0f * (1 - 0.025f), p[0][0], 1e-6);
        assertEquals(4.0f - 0.1f * (1 + 0.25f * 4), p[0][1], 1e-6);
    }
}
