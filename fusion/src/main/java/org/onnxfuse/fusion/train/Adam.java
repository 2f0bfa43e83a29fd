package org.onnxfuse.fusion.train;

import org.onnxfuse.kernels.AdamStep;
import org.onnxfuse.kernels.OptimizerSteps;

/**
 * Adam (Kingma and Ba) with bias correction: m <- beta1 m + (1 - beta1) g, v <- beta2 v +
 * (1 - beta2) g^2, theta <- theta - lr m^ / (sqrt(v^) + epsilon) with m^ = m / (1 - beta1^t) and
 * v^ = v / (1 - beta2^t), as PyTorch computes it; weight decay as {@link WeightDecayMode} says
 * (decoupled: AdamW). Each element is computed in double and stored as float
 * ({@link AdamStep}), by the given {@link OptimizerSteps} (the host loop unless told otherwise).
 */
final class Adam implements Optimizer {
    static final double BETA1 = 0.9;
    static final double BETA2 = 0.999;
    static final double EPSILON = 1e-8;

    private final float[][] m;
    private final float[][] v;
    private final double weightDecay;
    private final WeightDecayMode mode;
    private final OptimizerSteps steps;
    private int stepCount;

    Adam(ParameterLayout layout, double weightDecay, WeightDecayMode mode) {
        this(layout, weightDecay, mode, OptimizerSteps.HOST);
    }

    Adam(ParameterLayout layout, double weightDecay, WeightDecayMode mode, OptimizerSteps steps) {
        this.m = layout.zeros();
        this.v = layout.zeros();
        this.weightDecay = weightDecay;
        this.mode = mode;
        this.steps = steps;
    }

    @Override
    public void step(float[][] parameters, float[][] gradients, double learningRate) {
        stepCount++;
        double firstCorrection = 1 - Math.pow(BETA1, stepCount);
        double secondCorrectionRoot = Math.sqrt(1 - Math.pow(BETA2, stepCount));
        double l2 = mode == WeightDecayMode.L2 ? weightDecay : 0;
        double keep = mode == WeightDecayMode.DECOUPLED ? 1 - learningRate * weightDecay : 1;
        AdamStep step = new AdamStep(BETA1, BETA2, EPSILON, l2, keep, learningRate / firstCorrection,
                secondCorrectionRoot);
        for (int i = 0; i < parameters.length; i++) {
            steps.adamStep(parameters[i], gradients[i], m[i], v[i], step);
        }
    }
}
