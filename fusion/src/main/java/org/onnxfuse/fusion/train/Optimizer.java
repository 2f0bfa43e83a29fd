package org.onnxfuse.fusion.train;

import org.onnxfuse.kernels.OptimizerSteps;

/**
 * Updates parameters in place from their gradients, keeping its own state (moments) for one
 * training run; a new run takes a new optimiser.
 *
 * <p>The elementwise update of each parameter buffer is an {@link OptimizerSteps} call: the
 * trainer uses {@link OptimizerSteps#HOST}, the Java loops, also with the CUDA backend. The
 * parameters live on the host (ONNX Runtime computes the gradients on the CPU), so a device step
 * would upload parameters, gradients and state and download parameters and state every step (28
 * bytes per float32 value with Adam) to save an update that is memory-bound and far cheaper than
 * the objective's forward and backward passes. {@code ComputeBackend} implements the same steps
 * (the CUDA backend with optimizer.cu, bit-identical to the host), for a trainer whose parameters
 * stay on the device ({@link #create(TrainingSettings, ParameterLayout, OptimizerSteps)}).
 */
interface Optimizer {

    /**
     * One step: {@code parameters} move against {@code gradients} (same layout, not modified) with
     * learning rate {@code learningRate}.
     */
    void step(float[][] parameters, float[][] gradients, double learningRate);

    /** The settings' optimiser on the host ({@link OptimizerSteps#HOST}): what the trainer uses. */
    static Optimizer create(TrainingSettings settings, ParameterLayout layout) {
        return create(settings, layout, OptimizerSteps.HOST);
    }

    /** The settings' optimiser, its updates run by {@code steps} (a compute backend, or the host). */
    static Optimizer create(TrainingSettings settings, ParameterLayout layout, OptimizerSteps steps) {
        return switch (settings.optimizer()) {
            case ADAM -> new Adam(layout, settings.weightDecay(), settings.weightDecayMode(), steps);
            case SGD -> new Sgd(layout, settings.momentum(), settings.nesterov(), settings.weightDecay(),
                    settings.weightDecayMode(), steps);
        };
    }
}
