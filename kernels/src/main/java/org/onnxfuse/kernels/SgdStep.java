package org.onnxfuse.kernels;

/**
 * The constants of one SGD step with momentum mu (no dampening, as PyTorch computes it): per
 * element, in float64,
 * <pre>
 * grad      = g + l2 p
 * buffer    = mu b + grad                          (stored in b as float32)
 * direction = nesterov ? grad + mu buffer : buffer
 * p         = keep p - lr direction
 * </pre>
 * in that order of operations, without fused multiply-adds, on every backend.
 *
 * @param l2   the L2 weight decay added to the gradient (0 for none or decoupled decay)
 * @param keep the decoupled decay's factor 1 - lr wd (1 for none or L2)
 */
public record SgdStep(double momentum, boolean nesterov, double l2, double keep, double learningRate) {

    /** The step on the host: the reference every backend reproduces bit for bit. */
    void applyOnHost(float[] parameters, float[] gradients, float[] velocity) {
        AdamStep.checkLengths(parameters, gradients, velocity);
        for (int j = 0; j < parameters.length; j++) {
            double grad = gradients[j] + l2 * parameters[j];
            double buffer = momentum * velocity[j] + grad;
            velocity[j] = (float) buffer;
            double direction = nesterov ? grad + momentum * buffer : buffer;
            parameters[j] = (float) (keep * parameters[j] - learningRate * direction);
        }
    }
}
