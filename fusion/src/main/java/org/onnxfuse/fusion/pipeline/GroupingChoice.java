package org.onnxfuse.fusion.pipeline;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;

/**
 * Which groupings kf-linear fuses with (ALGORITHM.md section 3, "Choosing the grouping"), by its
 * command-line name ({@code --grouping}).
 */
public enum GroupingChoice {
    /** {@link #BOTH} for two parents whose levels form a DAG, at the parents' widths; else {@link #KMEANS}. */
    AUTO("auto"),
    /** Importance-weighted K-means groups only. */
    KMEANS("kmeans"),
    /**
     * Fuse twice, with K-means groups and with one-to-one matching (hf-linear's grouping, importance
     * and class weights), and keep the fused model whose outputs are closer to the parents' ensemble
     * on the calibration data. Two parents at parent 0's widths only.
     */
    BOTH("both");

    private final String cliName;

    GroupingChoice(String cliName) {
        this.cliName = cliName;
    }

    /**
     * Whether a kf-linear fusion compares both groupings: asked for, or {@link #AUTO} on two parents
     * whose levels form a DAG at parent 0's widths.
     *
     * @param parents   how many parents
     * @param chain     whether the parents' plan is one chain of levels ({@code LevelPlan.sequential()})
     * @param ownWidths whether every fused width is parent 0's
     */
    public boolean compares(int parents, boolean chain, boolean ownWidths) {
        return this == BOTH || (this == AUTO && parents == 2 && !chain && ownWidths);
    }

    public String cliName() {
        return cliName;
    }

    /** The choice called {@code name} on the command line, e.g. "both". */
    public static GroupingChoice fromName(String name) {
        String wanted = name.strip().toLowerCase(Locale.ROOT);
        return Arrays.stream(values()).filter(c -> c.cliName.equals(wanted)).findFirst()
                .orElseThrow(() -> new OnnxFuseException(ErrorCode.USAGE, "unknown grouping '" + name
                        + "'; expected one of " + names()));
    }

    public static List<String> names() {
        return Arrays.stream(values()).map(GroupingChoice::cliName).toList();
    }
}
