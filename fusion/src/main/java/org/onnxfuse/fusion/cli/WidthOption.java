package org.onnxfuse.fusion.cli;

import org.onnxfuse.fusion.pipeline.Fusion;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;

/** Parses {@code --width}: a factor of parent 0's widths ("1.5") or per-level widths ("1:300,2:128"). */
final class WidthOption {
    private WidthOption() {
    }

    static void apply(String text, Fusion.Builder builder) {
        if (text == null || text.isBlank()) {
            return;
        }
        String s = text.strip();
        if (!s.contains(":")) {
            double factor = parseDouble(s, text);
            if (!(factor > 0) || Double.isInfinite(factor)) {
                throw bad(text, "the factor must be positive");
            }
            builder.widthFactor(factor);
            return;
        }
        for (String part : s.split(",")) {
            String[] kv = part.strip().split(":");
            if (kv.length != 2) {
                throw bad(text, "each entry is LEVEL:WIDTH");
            }
            int level = parseInt(kv[0], text);
            int k = parseInt(kv[1], text);
            if (k <= 0) {
                throw bad(text, "widths must be positive");
            }
            builder.width(level, k);
        }
    }

    private static double parseDouble(String s, String text) {
        try {
            return Double.parseDouble(s);
        } catch (NumberFormatException e) {
            throw bad(text, "'" + s + "' is not a number");
        }
    }

    private static int parseInt(String s, String text) {
        try {
            return Integer.parseInt(s.strip());
        } catch (NumberFormatException e) {
            throw bad(text, "'" + s.strip() + "' is not a whole number");
        }
    }

    private static OnnxFuseException bad(String text, String why) {
        return new OnnxFuseException(ErrorCode.USAGE, "--width " + text + ": " + why
                + "; expected a factor such as 1.5 or per-level widths such as 1:300,2:128");
    }
}
