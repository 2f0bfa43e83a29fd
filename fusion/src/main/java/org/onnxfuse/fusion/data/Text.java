package org.onnxfuse.fusion.data;

/** Formatting shared by the error messages of this package; keeps every message on one line. */
final class Text {
    private static final int MAX_QUOTED = 120;

    private Text() {
    }

    /** Single-quoted, control characters escaped and long text cut, so file bytes cannot break
     *  a one-line message. */
    static String quote(String s) {
        StringBuilder b = new StringBuilder("'");
        int n = Math.min(s.length(), MAX_QUOTED);
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c == '\n') {
                b.append("\\n");
            } else if (c == '\r') {
                b.append("\\r");
            } else if (c == '\t') {
                b.append("\\t");
            } else if (c < 0x20 || c == 0x7f) {
                b.append(String.format("\\x%02x", (int) c));
            } else {
                b.append(c);
            }
        }
        if (s.length() > n) {
            b.append("...");
        }
        return b.append('\'').toString();
    }

    /** {@code [2, 3]}. */
    static String shape(long[] shape) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) {
                b.append(", ");
            }
            b.append(shape[i]);
        }
        return b.append(']').toString();
    }

    /** Hex of the first bytes, for "bad magic" messages. */
    static String hex(byte[] bytes, int n) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < Math.min(n, bytes.length); i++) {
            if (i > 0) {
                b.append(' ');
            }
            b.append(String.format("%02x", bytes[i] & 0xff));
        }
        return b.toString();
    }
}
