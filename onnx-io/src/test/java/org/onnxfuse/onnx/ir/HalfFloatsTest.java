package org.onnxfuse.onnx.ir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class HalfFloatsTest {

    /** Every bit pattern against the definition, computed independently in double. */
    @Test
    void allBitPatternsDecodeExactly() {
        for (int bits = 0; bits < 0x10000; bits++) {
            int sign = bits >>> 15;
            int exponent = (bits >>> 10) & 0x1f;
            int mantissa = bits & 0x3ff;
            float got = HalfFloats.halfToFloat((short) bits);
            if (exponent == 0x1f && mantissa != 0) {
                assertTrue(Float.isNaN(got), "bits " + Integer.toHexString(bits));
                int raw = Float.floatToRawIntBits(got);
                assertEquals(sign, raw >>> 31, "NaN sign");
                assertEquals(mantissa, (raw >>> 13) & 0x3ff, "NaN payload");
                continue;
            }
            double magnitude;
            if (exponent == 0x1f) {
                magnitude = Double.POSITIVE_INFINITY;
            } else if (exponent == 0) {
                magnitude = mantissa * Math.pow(2, -24);
            } else {
                magnitude = (1024 + mantissa) * Math.pow(2, exponent - 25);
            }
            float expected = (float) (sign == 1 ? -magnitude : magnitude);
            assertEquals((double) expected, (double) got, 0.0, "bits " + Integer.toHexString(bits));
            assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(got),
                    "bits " + Integer.toHexString(bits));
        }
    }

    @Test
    void namedValues() {
        assertEquals(0x1p-24f, HalfFloats.halfToFloat((short) 0x0001));
        assertEquals(1023 * 0x1p-24f, HalfFloats.halfToFloat((short) 0x03ff));
        assertEquals(0x1p-14f, HalfFloats.halfToFloat((short) 0x0400));
        assertEquals(65504f, HalfFloats.halfToFloat((short) 0x7bff));
        assertEquals(-2f, HalfFloats.halfToFloat((short) 0xc000));
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(HalfFloats.halfToFloat((short) 0x8000)));
        assertEquals(Float.NEGATIVE_INFINITY, HalfFloats.halfToFloat((short) 0xfc00));
        assertTrue(Float.isNaN(HalfFloats.halfToFloat((short) 0x7e00)));
    }

    @org.junit.jupiter.api.Test
    void narrowingInvertsWideningForEveryNonNanPattern() {
        for (int bits = 0; bits < 0x10000; bits++) {
            float f = HalfFloats.halfToFloat((short) bits);
            if (Float.isNaN(f)) {
                assertTrue(Float.isNaN(HalfFloats.halfToFloat(HalfFloats.floatToHalf(f))));
                continue;
            }
            assertEquals(bits, HalfFloats.floatToHalf(f) & 0xffff, "pattern " + Integer.toHexString(bits));
        }
    }

    @org.junit.jupiter.api.Test
    void narrowingRoundsToNearestEven() {
        // 1 + 2^-11 lies halfway between 1 and the next half (1 + 2^-10): ties go to the even one, 1.
        assertEquals(0x3c00, HalfFloats.floatToHalf(1f + 0x1p-11f) & 0xffff);
        // just above halfway rounds up
        assertEquals(0x3c01, HalfFloats.floatToHalf(1f + 0x1p-11f + 0x1p-20f) & 0xffff);
        assertEquals(0x7c00, HalfFloats.floatToHalf(65520f) & 0xffff, "overflow to +inf");
        assertEquals(0x0001, HalfFloats.floatToHalf(0x1p-24f) & 0xffff, "smallest subnormal");
        assertEquals(0x0000, HalfFloats.floatToHalf(0x1p-26f) & 0xffff, "underflow to zero");
    }
}
