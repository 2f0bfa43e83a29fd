package org.onnxfuse.fusion.train;

import org.onnxfuse.kernels.OptimizerSteps;
import org.onnxfuse.kernels.SgdStep;

/**
 * SGD with momentum mu, as PyTorch computes it (no dampening): b <- mu b + g, then theta <- theta -
 * lr b, or with Nesterov momentum theta <- theta - lr (g + mu b); weight decay as
 * {@link WeightDecayMode} says (L2: wd theta joins g before the momentum). Each element is computed
 * in double and stored as float ({@link SgdStep}), by the given {@link OptimizerSteps} (the host
 * loop unless told otherwise).
 */
final class Sgd implements Optimizer {
    private final float[][] velocity;
    private final double momentum;
    private final boolean nesterov;
    private final double weightDecay;
    private final WeightDecayMode mode;
    private final OptimizerSteps steps;

    Sgd(ParameterLayout layout, double momentum, boolean nesterov, double weightDecay, WeightDecayMode mode) {
        this(layout, momentum, nesterov, weightDecay, mode, OptimizerSteps.HOST);
    }

    Sgd(ParameterLayout layout, double momentum, boolean nesterov, double weightDecay, WeightDecayMode mode,
        OptimizerSteps steps) {
        this.velocity = layout.zeros();
        this.momentum = momentum;
        this.nesterov = nesterov;
        this.weightDecay = weightDecay;
        this.mode = mode;
        this.steps = steps;
    }

    @Override
    public void step(float[][] parameters, float[][] gradients, double learningRate) {
        double l2 = mode == WeightDecayMode.L2 ? weightDecay : 0;
        double keep = mode == WeightDecayMode.DECOUPLED ? 1 - learningRate * weightDecay : 1;
        SgdStep step = new SgdStep(momentum, nesterov, l2, keep, learningRate);
        for (int i = 0; i < parameters.length; i++) {
            steps.sgdStep(parameters[i], gradients[i], velocity[i], step);
        }
    }
}
