package org.onnxfuse.kernels;

/**
 * The constants of one Adam step (Kingma and Ba, with bias correction, as PyTorch computes it), as
 * the optimiser computes them for step t with learning rate lr: per element, in float64,
 * <pre>
 * grad   = g + l2 p
 * first  = beta1 m1 + (1 - beta1) grad            (stored in m1 as float32)
 * second = beta2 m2 + (1 - beta2) grad grad       (stored in m2 as float32)
 * p      = keep p - stepSize first / (sqrt(second) / secondCorrectionRoot + epsilon)
 * </pre>
 * in that order of operations, without fused multiply-adds, on every backend.
 *
 * @param l2                   the L2 weight decay added to the gradient (0 for none or decoupled decay)
 * @param keep                 the decoupled decay's factor 1 - lr wd (1 for none or L2)
 * @param stepSize             lr / (1 - beta1<sup>t</sup>)
 * @param secondCorrectionRoot sqrt(1 - beta2<sup>t</sup>)
 */
public record AdamStep(double beta1, double beta2, double epsilon, double l2, double keep, double stepSize,
                       double secondCorrectionRoot) {

    /** The step on the host: the reference every backend reproduces bit for bit. */
    void applyOnHost(float[] parameters, float[] gradients, float[] firstMoment, float[] secondMoment) {
        checkLengths(parameters, gradients, firstMoment, secondMoment);
        double oneMinusBeta1 = 1 - beta1;
        double oneMinusBeta2 = 1 - beta2;
        for (int j = 0; j < parameters.length; j++) {
            double grad = gradients[j] + l2 * parameters[j];
            double first = beta1 * firstMoment[j] + oneMinusBeta1 * grad;
            double second = beta2 * secondMoment[j] + oneMinusBeta2 * grad * grad;
            firstMoment[j] = (float) first;
            secondMoment[j] = (float) second;
            parameters[j] = (float) (keep * parameters[j]
                    - stepSize * first / (Math.sqrt(second) / secondCorrectionRoot + epsilon));
        }
    }

    /** All buffers of one step have the parameters' length. */
    static void checkLengths(float[] parameters, float[]... others) {
        for (float[] other : others) {
            if (other.length != parameters.length) {
                throw new IllegalArgumentException("optimiser step: expected gradients and state of the parameters'"
                        + " length " + parameters.length + ", found " + other.length);
            }
        }
    }
}
