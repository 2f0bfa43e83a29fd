package org.onnxfuse.fusion.train;

/**
 * SGD with momentum mu, as PyTorch computes it (no dampening): b <- mu b + g, then theta <- theta -
 * lr b, or with Nesterov momentum theta <- theta - lr (g + mu b); weight decay as
 * {@link WeightDecayMode} says (L2: wd theta joins g before the momentum).
 */
final class Sgd implements Optimizer {
    private final float[][] velocity;
    private final double momentum;
    private final boolean nesterov;
    private final double weightDecay;
    private final WeightDecayMode mode;

    Sgd(ParameterLayout layout, double momentum, boolean nesterov, double weightDecay, WeightDecayMode mode) {
        this.velocity = layout.zeros();
        this.momentum = momentum;
        this.nesterov = nesterov;
        this.weightDecay = weightDecay;
        this.mode = mode;
    }

    @Override
    public void step(float[][] parameters, float[][] gradients, double learningRate) {
        double l2 = mode == WeightDecayMode.L2 ? weightDecay : 0;
        double keep = mode == WeightDecayMode.DECOUPLED ? 1 - learningRate * weightDecay : 1;
        for (int i = 0; i < parameters.length; i++) {
            float[] p = parameters[i];
            float[] g = gradients[i];
            float[] b = velocity[i];
            for (int j = 0; j < p.length; j++) {
                double grad = g[j] + l2 * p[j];
                double buffer = momentum * b[j] + grad;
                b[j] = (float) buffer;
                double direction = nesterov ? grad + momentum * buffer : buffer;
                p[j] = (float) (keep * p[j] - learningRate * direction);
            }
        }
    }
}
