package org.onnxfuse.fusion.evaluate;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxfuse.fusion.collect.Activation;

/**
 * The outputs of one model run on one batch, copied into Java memory.
 *
 * @param firstSample index of the batch's first sample in its data set
 * @param count       samples in the batch
 * @param outputs     output name to tensor, in the order the evaluator lists them: the model's
 *                    own outputs first, then the extra ones asked for
 */
public record BatchOutputs(long firstSample, int count, Map<String, Activation> outputs) {
    public BatchOutputs {
        outputs = Collections.unmodifiableMap(new LinkedHashMap<>(outputs));
    }

    /** The tensor called {@code name}. */
    public Activation get(String name) {
        Activation a = outputs.get(name);
        if (a == null) {
            throw new IllegalArgumentException("no output '" + name + "'; this run has " + List.copyOf(outputs.keySet()));
        }
        return a;
    }

    /** The first output: the model's own (for our classifiers, the logits [count, classes]). */
    public Activation first() {
        return outputs.values().iterator().next();
    }
}
