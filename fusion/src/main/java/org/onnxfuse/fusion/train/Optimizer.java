package org.onnxfuse.fusion.train;

/**
 * Updates parameters in place from their gradients, keeping its own state (moments) for one
 * training run; a new run takes a new optimiser.
 *
 * <p>The update is plain Java loops over the host arrays, not the compute backend: the backend's
 * operations are float64 matrix products, statistics and solves, and an elementwise update is
 * memory-bound, so a loop the JIT vectorises already runs at memory speed on the CPU, and a
 * device kernel would pay a transfer each way per step while the parameters live on the host
 * (see package-info for what the CUDA side needs).
 */
interface Optimizer {

    /**
     * One step: {@code parameters} move against {@code gradients} (same layout, not modified) with
     * learning rate {@code learningRate}.
     */
    void step(float[][] parameters, float[][] gradients, double learningRate);

    static Optimizer create(TrainingSettings settings, ParameterLayout layout) {
        return switch (settings.optimizer()) {
            case ADAM -> new Adam(layout, settings.weightDecay(), settings.weightDecayMode());
            case SGD -> new Sgd(layout, settings.momentum(), settings.nesterov(), settings.weightDecay(),
                    settings.weightDecayMode());
        };
    }
}
