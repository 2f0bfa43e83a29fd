package org.onnxfuse.onnx.ir;

/**
 * One dimension of a tensor shape: a fixed size, a named symbol ({@code dim_param}, e.g.
 * "batch"), or unknown (neither set).
 */
public record Dim(long value, String param) {
    public static final Dim UNKNOWN = new Dim(-1, null);

    public static Dim of(long value) {
        return new Dim(value, null);
    }

    public static Dim symbol(String param) {
        return new Dim(-1, param);
    }

    public boolean isFixed() {
        return value >= 0 && param == null;
    }

    /** Size, or -1 when symbolic or unknown. */
    public long sizeOrMinusOne() {
        return isFixed() ? value : -1;
    }

    @Override
    public String toString() {
        if (isFixed()) {
            return Long.toString(value);
        }
        return param != null ? param : "?";
    }
}
