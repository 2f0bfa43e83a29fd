package org.onnxfuse.fusion.data;

/** Formatting shared by the error messages of this package; keeps every message on one line. */
final class Text {
    private Text() {
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
