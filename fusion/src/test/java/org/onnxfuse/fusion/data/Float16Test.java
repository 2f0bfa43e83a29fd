package org.onnxfuse.fusion.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class Float16Test {

    /** Every bit pattern against the definition, computed independently in double. */
    @Test
    void allBitPatternsDecodeExactly() {
        for (int bits = 0; bits < 0x10000; bits++) {
            int sign = bits >>> 15;
            int exponent = (bits >>> 10) & 0x1f;
            int mantissa = bits & 0x3ff;
            float got = Float16.toFloat((short) bits);
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
        assertEquals(0x1p-24f, Float16.toFloat((short) 0x0001));
        assertEquals(1023 * 0x1p-24f, Float16.toFloat((short) 0x03ff));
        assertEquals(0x1p-14f, Float16.toFloat((short) 0x0400));
        assertEquals(65504f, Float16.toFloat((short) 0x7bff));
        assertEquals(-2f, Float16.toFloat((short) 0xc000));
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(Float16.toFloat((short) 0x8000)));
        assertEquals(Float.NEGATIVE_INFINITY, Float16.toFloat((short) 0xfc00));
        assertTrue(Float.isNaN(Float16.toFloat((short) 0x7e00)));
    }
}
