package org.onnxfuse.fusion.train;

import java.util.Objects;

/**
 * The trained parameters of a segment (the epoch with the best validation loss; the caller owns
 * them) and what training did.
 */
public record TrainingOutcome(float[][] parameters, TrainingResult result) {
    public TrainingOutcome {
        Objects.requireNonNull(parameters, "parameters");
        Objects.requireNonNull(result, "result");
    }
}
