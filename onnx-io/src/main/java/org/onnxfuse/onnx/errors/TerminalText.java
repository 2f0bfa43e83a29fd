package org.onnxfuse.onnx.errors;

/**
 * Text from a model or a data file made safe to print: names can hold any bytes, and a newline or
 * an ANSI escape in a tensor name would forge output lines or recolour the terminal. Every place
 * that prints a model's strings (errors, warnings, the plan and fusion tables) goes through here.
 */
public final class TerminalText {
    private static final int MAX_QUOTED = 120;

    private TerminalText() {
    }

    /** {@code text} with every control character shown as an escape ({@code \n}, {@code \x1b}). */
    public static String escape(String text) {
        StringBuilder b = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            String escaped = escaped(c);
            if (escaped != null && b == null) {
                b = new StringBuilder(text.length() + 8).append(text, 0, i);
            }
            if (b != null) {
                if (escaped != null) {
                    b.append(escaped);
                } else {
                    b.append(c);
                }
            }
        }
        return b == null ? text : b.toString();
    }

    /** Single-quoted, escaped and cut after {@value #MAX_QUOTED} characters, for text of any length. */
    public static String quote(String text) {
        boolean cut = text.length() > MAX_QUOTED;
        return "'" + escape(cut ? text.substring(0, MAX_QUOTED) : text) + (cut ? "..." : "") + "'";
    }

    private static String escaped(char c) {
        if (c == '\n') {
            return "\\n";
        } else if (c == '\r') {
            return "\\r";
        } else if (c == '\t') {
            return "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            return String.format("\\x%02x", (int) c);
        } else if ((c >= 0x80 && c <= 0x9f) || c == '\u2028' || c == '\u2029') {
            // C1 controls (0x9b starts an escape sequence on some terminals) and Unicode line breaks
            return String.format("\\u%04x", (int) c);
        }
        return null;
    }
}
