package org.onnxfuse.fusion.data;

/** IEEE 754 binary16 to float32, exact for every one of the 65536 bit patterns. */
public final class Float16 {
    private Float16() {
    }

    /**
     * Widens a half-precision value. Normals and subnormals map to the identical real number,
     * infinities keep their sign, and NaNs keep sign and payload (shifted into the top mantissa
     * bits, as hardware conversion does).
     */
    public static float toFloat(short bits) {
        int h = bits & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1f;
        int mantissa = h & 0x3ff;
        if (exponent == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | mantissa << 13);
        }
        if (exponent == 0) {
            // Zero or subnormal: mantissa * 2^-24; both factors are exact in float32.
            float magnitude = mantissa * 0x1p-24f;
            return sign == 0 ? magnitude : -magnitude;
        }
        // Normal: rebias the exponent from 15 to 127.
        return Float.intBitsToFloat(sign | (exponent + 112) << 23 | mantissa << 13);
    }
}
