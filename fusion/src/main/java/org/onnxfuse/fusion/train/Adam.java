package org.onnxfuse.fusion.train;

/**
 * Adam (Kingma and Ba) with bias correction: m <- beta1 m + (1 - beta1) g, v <- beta2 v +
 * (1 - beta2) g^2, theta <- theta - lr m^ / (sqrt(v^) + epsilon) with m^ = m / (1 - beta1^t) and
 * v^ = v / (1 - beta2^t), as PyTorch computes it; weight decay as {@link WeightDecayMode} says
 * (decoupled: AdamW). Each element is computed in double and stored as float.
 */
final class Adam implements Optimizer {
    static final double BETA1 = 0.9;
    static final double BETA2 = 0.999;
    static final double EPSILON = 1e-8;

    private final float[][] m;
    private final float[][] v;
    private final double weightDecay;
    private final WeightDecayMode mode;
    private int steps;

    Adam(ParameterLayout layout, double weightDecay, WeightDecayMode mode) {
        this.m = layout.zeros();
        this.v = layout.zeros();
        this.weightDecay = weightDecay;
        this.mode = mode;
    }

    @Override
    public void step(float[][] parameters, float[][] gradients, double learningRate) {
        steps++;
        double firstCorrection = 1 - Math.pow(BETA1, steps);
        double secondCorrectionRoot = Math.sqrt(1 - Math.pow(BETA2, steps));
        double l2 = mode == WeightDecayMode.L2 ? weightDecay : 0;
        double keep = mode == WeightDecayMode.DECOUPLED ? 1 - learningRate * weightDecay : 1;
        double stepSize = learningRate / firstCorrection;
        for (int i = 0; i < parameters.length; i++) {
            float[] p = parameters[i];
            float[] g = gradients[i];
            float[] mi = m[i];
            float[] vi = v[i];
            for (int j = 0; j < p.length; j++) {
                double grad = g[j] + l2 * p[j];
                double first = BETA1 * mi[j] + (1 - BETA1) * grad;
                double second = BETA2 * vi[j] + (1 - BETA2) * grad * grad;
                mi[j] = (float) first;
                vi[j] = (float) second;
                p[j] = (float) (keep * p[j] - stepSize * first / (Math.sqrt(second) / secondCorrectionRoot + EPSILON));
            }
        }
    }
}
