package org.onnxfuse.fusion.train;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.onnxfuse.fusion.pipeline.InvalidSettingException;

/** The optimisers a segment can be trained with. */
public enum OptimizerKind {
    /** Adam: beta1 0.9, beta2 0.999, epsilon 1e-8, bias-corrected moments. */
    ADAM,
    /** Stochastic gradient descent with (heavy-ball or Nesterov) momentum. */
    SGD;

    public static final List<String> NAMES = Arrays.stream(values()).map(OptimizerKind::cliName).toList();

    /** "adam" or "sgd". */
    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** {@code --optimizer}'s text. */
    public static OptimizerKind parse(String text) {
        String s = text.strip().toLowerCase(Locale.ROOT);
        for (OptimizerKind kind : values()) {
            if (kind.cliName().equals(s)) {
                return kind;
            }
        }
        throw new InvalidSettingException("optimizer (--optimizer): expected one of " + NAMES + ", found '" + text
                + "'");
    }
}
