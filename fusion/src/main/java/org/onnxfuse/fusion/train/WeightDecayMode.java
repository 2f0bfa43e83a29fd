package org.onnxfuse.fusion.train;

/**
 * How weight decay wd enters an optimiser step with learning rate lr.
 */
public enum WeightDecayMode {
    /**
     * wd theta is added to the gradient (PyTorch's {@code weight_decay} of Adam and SGD): training
     * minimises loss + wd/2 ||theta||^2, a known minimiser; the default, because the reference
     * implementation's defaults quoted in ALGORITHM.md section 4 were tuned with it.
     */
    L2,
    /**
     * theta <- (1 - lr wd) theta before each step, apart from the gradient (AdamW, Loshchilov and
     * Hutter): the shrinkage does not depend on the gradients' scale, which with L2 Adam divides
     * out of the decay as well.
     */
    DECOUPLED
}
