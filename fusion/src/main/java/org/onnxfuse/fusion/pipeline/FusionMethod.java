package org.onnxfuse.fusion.pipeline;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/** The fusion methods, by their command-line names (ALGORITHM.md sections 3 and 7). */
public enum FusionMethod {
    /** Importance-weighted K-means over all parents' neurons, then least squares; any K >= 2. */
    KF_LINEAR("kf-linear", true),
    /**
     * The gradient variant: K-means of the parents' outputs gives the targets, and every level is
     * trained to them by gradient descent in ONNX Runtime (ALGORITHM.md section 4).
     */
    KF_GRADIENT("kf-gradient", true),
    /**
     * The hybrid: the linear variant's fit at every level that is one affine op, training where a
     * segment is more (a residual block, a class head followed by Relu and pooling), and optional training of each
     * level ({@code --refine}) and of the last one against the parents' softmax ({@code --distill}).
     */
    KF_AUTO("kf-auto", true),
    /** Optimal one-to-one matching of two parents' neurons (K = 2, fused width = parent 0's width). */
    HF_LINEAR("hf-linear", true),
    /** Baseline: elementwise mean of the parameters (equal shapes only). */
    AVERAGE("average", false),
    /** Baseline: data-free permutation alignment to parent 0 by weight similarity, then averaging. */
    WEIGHT_MATCH("weight-match", false),
    /** Baseline: alignment by activation distance (optimal transport when widths differ), then averaging. */
    ACT_MATCH("act-match", true);

    private final String cliName;
    private final boolean needsData;

    FusionMethod(String cliName, boolean needsData) {
        this.cliName = cliName;
        this.needsData = needsData;
    }

    public String cliName() {
        return cliName;
    }

    /** Whether the method runs the parents on calibration data. */
    public boolean needsData() {
        return needsData;
    }

    /** Neuron interpolation (as opposed to a baseline). */
    public boolean isInterpolation() {
        return this == KF_LINEAR || this == HF_LINEAR || this == KF_GRADIENT || this == KF_AUTO;
    }

    /** Whether the method trains levels by gradient descent (its settings then apply). */
    public boolean trains() {
        return this == KF_GRADIENT || this == KF_AUTO;
    }

    /** Groups neurons by K-means (and so may change widths). */
    public boolean usesKMeans() {
        return this == KF_LINEAR || trains();
    }

    /**
     * Whether a level grouped by this method's own K-means may take the factor form (no m x m
     * matrices): not HF (the pairwise costs of two parents) nor kf-gradient (it groups the
     * parents' outputs by their Gram S_aa).
     */
    public boolean mayGroupInFactorForm() {
        return this != HF_LINEAR && this != KF_GRADIENT;
    }

    /** The method called {@code name} on the command line, e.g. "weight-match". */
    public static FusionMethod fromName(String name) {
        String wanted = name.strip().toLowerCase(Locale.ROOT);
        return Arrays.stream(values()).filter(m -> m.cliName.equals(wanted)).findFirst()
                .orElseThrow(() -> new InvalidSettingException("unknown method '" + name + "'; expected one of "
                        + names()));
    }

    public static List<String> names() {
        return Arrays.stream(values()).map(FusionMethod::cliName).toList();
    }
}
