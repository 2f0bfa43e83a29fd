package org.onnxfuse.fusion.testing;

/**
 * A 64-bit fingerprint of values fed one at a time (a splitmix-style mix), for tests that pin
 * results bit for bit to numbers recorded from an earlier version of the code.
 */
public final class Fingerprint {
    private long state = 0x9E3779B97F4A7C15L;

    /** Mixes in one value (an int, or a float's or double's raw bits). */
    public Fingerprint add(long value) {
        long x = (state ^ value) * 0xBF58476D1CE4E5B9L;
        x ^= x >>> 31;
        x *= 0x94D049BB133111EBL;
        state = x ^ (x >>> 29);
        return this;
    }

    /** Every value's raw bits, in order. */
    public Fingerprint add(double[] values) {
        for (double v : values) {
            add(Double.doubleToRawLongBits(v));
        }
        return this;
    }

    /** Every value's raw bits, in order. */
    public Fingerprint add(float[] values) {
        for (float v : values) {
            add(Float.floatToRawIntBits(v));
        }
        return this;
    }

    /** Every value, in order. */
    public Fingerprint add(int[] values) {
        for (int v : values) {
            add(v);
        }
        return this;
    }

    public long value() {
        return state;
    }
}
