package org.onnxfuse.fusion.importance;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;

/** How neuron importance is scored (ALGORITHM.md section 6), by its command-line name. */
public enum ImportanceMethod {
    /** s_j = 1: every neuron counts the same. */
    UNIFORM("uniform"),
    /** Layer conductance along the straight path from the zero input, 11 Gauss-Legendre points. */
    CONDUCTANCE("conductance"),
    /** DeepLIFT with the rescale rule and the zero input as baseline. */
    DEEPLIFT("deeplift"),
    /** The drop of the label's logit when the neuron is set to 0. */
    ABLATION("ablation");

    private final String cliName;

    ImportanceMethod(String cliName) {
        this.cliName = cliName;
    }

    public String cliName() {
        return cliName;
    }

    /** Whether scoring runs the parents on the calibration data (all but uniform). */
    public boolean needsData() {
        return this != UNIFORM;
    }

    /** The method called {@code name} on the command line, e.g. "conductance". */
    public static ImportanceMethod fromName(String name) {
        String wanted = name.strip().toLowerCase(Locale.ROOT);
        return Arrays.stream(values()).filter(m -> m.cliName.equals(wanted)).findFirst()
                .orElseThrow(() -> new OnnxFuseException(ErrorCode.USAGE, "unknown importance method '" + name
                        + "'; expected one of " + names()));
    }

    public static List<String> names() {
        return Arrays.stream(values()).map(ImportanceMethod::cliName).toList();
    }
}
