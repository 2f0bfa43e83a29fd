package org.onnxfuse.fusion.importance;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;

/**
 * How the last level weighs each parent's class-c logit in the fused class c (ALGORITHM.md
 * section 5), by its command-line name.
 */
public enum ClassWeights {
    /** The neuron importance scores of the class level, normalised per parent (the default). */
    IMPORTANCE("importance"),
    /**
     * Each parent's mean probability of the true class over the calibration samples of that class:
     * a parent that rarely saw class c (non-IID data) gives it less weight. Needs labels.
     */
    CONFIDENCE("confidence"),
    /** The plain mean of the parents' logits. */
    UNIFORM("uniform");

    private final String cliName;

    ClassWeights(String cliName) {
        this.cliName = cliName;
    }

    public String cliName() {
        return cliName;
    }

    /** The weighting called {@code name} on the command line, e.g. "confidence". */
    public static ClassWeights fromName(String name) {
        String wanted = name.strip().toLowerCase(Locale.ROOT);
        return Arrays.stream(values()).filter(w -> w.cliName.equals(wanted)).findFirst()
                .orElseThrow(() -> new OnnxFuseException(ErrorCode.USAGE, "unknown class weights '" + name
                        + "'; expected one of " + names()));
    }

    public static List<String> names() {
        return Arrays.stream(values()).map(ClassWeights::cliName).toList();
    }
}
