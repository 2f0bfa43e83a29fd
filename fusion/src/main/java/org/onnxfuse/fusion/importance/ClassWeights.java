package org.onnxfuse.fusion.importance;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;

/**
 * How the last level weighs each parent's class-c logit in the fused class c (ALGORITHM.md
 * section 3, "Class weights"), by its command-line name.
 */
public enum ClassWeights {
    /**
     * The default: {@link #CONFIDENCE} when kf-linear fuses parents whose levels form a DAG (residual
     * joins, depthwise ties, concatenations) and labels are given, else {@link #IMPORTANCE}
     * ({@link #resolve}; measured in docs/ALGORITHM.md section 3, "Defaults on DAGs").
     */
    AUTO("auto"),
    /** The neuron importance scores of the class level, normalised per parent. */
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

    /**
     * The weighting {@link #AUTO} stands for: {@link #CONFIDENCE} for kf-linear on a DAG with labels,
     * {@link #IMPORTANCE} otherwise; any other value stands for itself.
     *
     * @param chain       whether the parents' plan is one chain of levels ({@code LevelPlan.sequential()})
     * @param linearKMeans whether the method is kf-linear
     * @param labels      whether calibration labels are given
     */
    public ClassWeights resolve(boolean chain, boolean linearKMeans, boolean labels) {
        if (this != AUTO) {
            return this;
        }
        return !chain && linearKMeans && labels ? CONFIDENCE : IMPORTANCE;
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
