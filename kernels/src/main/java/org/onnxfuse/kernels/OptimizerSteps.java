package org.onnxfuse.kernels;

/**
 * The optimiser steps of the gradient variant on flat float32 buffers, updated in place: what the
 * trainer's Adam and SGD run once per mini-batch. These defaults run on the host ({@link #HOST});
 * the CUDA backend runs optimizer.cu, with the same bits. Every buffer of a call has the parameters'
 * length; the gradients are not modified.
 */
public interface OptimizerSteps {
    /** The Java loops, on the caller's thread: the CPU backend's steps and the reference. */
    OptimizerSteps HOST = new OptimizerSteps() {
        @Override
        public String toString() {
            return "host optimiser steps";
        }
    };

    /** One Adam step ({@link AdamStep}): parameters and both moments change in place. */
    default void adamStep(float[] parameters, float[] gradients, float[] firstMoment, float[] secondMoment,
                          AdamStep step) {
        step.applyOnHost(parameters, gradients, firstMoment, secondMoment);
    }

    /** One SGD step ({@link SgdStep}): parameters and the velocity change in place. */
    default void sgdStep(float[] parameters, float[] gradients, float[] velocity, SgdStep step) {
        step.applyOnHost(parameters, gradients, velocity);
    }
}
