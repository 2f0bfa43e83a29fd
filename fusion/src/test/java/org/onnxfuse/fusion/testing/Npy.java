package org.onnxfuse.fusion.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Function;

/**
 * Writes .npy test files with headers laid out exactly as numpy 1.x writes them: format versions
 * 1.0, 2.0 and 3.0, C or Fortran order, little- or big-endian elements of {@code <f2 <f4 >f4 <f8
 * >f8 |u1 |i1 <i2 <i4 <i8 >i8 |b1}, and odd paddings and raw bytes for malformed files.
 */
public final class Npy {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};

    private Npy() {
    }

    /** {@code {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }} */
    public static String dict(String descr, boolean fortran, long... shape) {
        StringBuilder s = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            s.append(i > 0 ? ", " : "").append(shape[i]);
        }
        s.append(shape.length == 1 ? ",)" : ")");
        return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False")
                + ", 'shape': " + s + ", }";
    }

    /** Magic, version, length and the dict padded with spaces and a newline to a multiple of 64 bytes. */
    public static byte[] header(String dict, int major) {
        byte[] text = dict.getBytes(major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        int total = (major == 1 ? 10 : 12) + text.length + 1;
        return header(dict, major, (total + 63) / 64 * 64);
    }

    /** A header padded to exactly {@code padded} bytes (numpy pads to a multiple of 64). */
    public static byte[] header(String dict, int major, int padded) {
        byte[] text = dict.getBytes(major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        int prefix = major == 1 ? 10 : 12;
        int headerLength = padded - prefix;
        ByteBuffer b = ByteBuffer.allocate(padded).order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC).put((byte) major).put((byte) 0);
        if (major == 1) {
            b.putShort((short) headerLength);
        } else {
            b.putInt(headerLength);
        }
        b.put(text);
        while (b.position() < padded - 1) {
            b.put((byte) ' ');
        }
        b.put((byte) '\n');
        return b.array();
    }

    /** A version 1.0 file: header and the element bytes {@code data}. */
    public static byte[] npy(String descr, boolean fortran, long[] shape, byte[] data) {
        return npy(1, descr, fortran, shape, data);
    }

    public static byte[] npy(int major, String descr, boolean fortran, long[] shape, byte[] data) {
        return concat(header(dict(descr, fortran, shape), major), data);
    }

    /** A C-order little-endian float32 array of {@code shape}. */
    public static byte[] floats(long[] shape, float[] values) {
        return npy("<f4", false, shape, data("<f4", false, shape, idx -> values[linear(idx, shape)]));
    }

    /** A 1-d little-endian int64 array. */
    public static byte[] longs(long[] values) {
        long[] shape = {values.length};
        return npy("<i8", false, shape, data("<i8", false, shape, idx -> values[(int) idx[0]]));
    }

    /** A C-order little-endian int64 array of {@code shape}. */
    public static byte[] longs(long[] shape, long[] values) {
        return npy("<i8", false, shape, data("<i8", false, shape, idx -> values[linear(idx, shape)]));
    }

    /** Writes a float32 array of {@code shape} to {@code file}. */
    public static Path writeFloats(Path file, long[] shape, float[] values) {
        return write(file, floats(shape, values));
    }

    /** Writes a 1-d int64 array (labels) to {@code file}. */
    public static Path writeLongs(Path file, long[] values) {
        return write(file, longs(values));
    }

    public static Path write(Path file, byte[] bytes) {
        try {
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    public static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private static int linear(long[] idx, long[] shape) {
        long n = 0;
        for (int i = 0; i < shape.length; i++) {
            n = n * shape[i] + idx[i];
        }
        return Math.toIntExact(n);
    }

    /**
     * The elements of an array of {@code shape}, value {@code f(multi-index)}, laid out in C or
     * Fortran order and encoded as {@code descr} ({@code <f2 <f4 >f4 <f8 >f8 |u1 |i1 <i2 <i4 <i8
     * >i8 |b1}).
     */
    public static byte[] data(String descr, boolean fortran, long[] shape, Function<long[], Number> f) {
        long count = 1;
        for (long d : shape) {
            count *= d;
        }
        int item = Integer.parseInt(descr.substring(2));
        ByteBuffer b = ByteBuffer.allocate((int) (count * item))
                .order(descr.charAt(0) == '>' ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN);
        long[] index = new long[shape.length];
        for (long n = 0; n < count; n++) {
            Number v = f.apply(index.clone());
            switch (descr.substring(1)) {
                case "f2" -> b.putShort(toHalf(v.floatValue()));
                case "f4" -> b.putFloat(v.floatValue());
                case "f8" -> b.putDouble(v.doubleValue());
                case "u1", "i1" -> b.put(v.byteValue());
                case "b1" -> b.put((byte) (v.doubleValue() != 0 ? 1 : 0));
                case "i2" -> b.putShort(v.shortValue());
                case "i4" -> b.putInt(v.intValue());
                case "i8" -> b.putLong(v.longValue());
                default -> throw new IllegalArgumentException(descr);
            }
            // advance the multi-index: last axis fastest in C order, first in Fortran order
            if (fortran) {
                for (int j = 0; j < shape.length && ++index[j] == shape[j]; j++) {
                    index[j] = 0;
                }
            } else {
                for (int j = shape.length - 1; j >= 0 && ++index[j] == shape[j]; j--) {
                    index[j] = 0;
                }
            }
        }
        return b.array();
    }

    /** float to binary16 for values exactly representable in half precision (test data only). */
    public static short toHalf(float v) {
        if (Float.isNaN(v)) {
            return (short) 0x7e00;
        }
        int bits = Float.floatToIntBits(v);
        int sign = (bits >>> 16) & 0x8000;
        float a = Math.abs(v);
        if (Float.isInfinite(a)) {
            return (short) (sign | 0x7c00);
        }
        if (a < 0x1p-14f) {
            int m = Math.round(a * 0x1p24f);
            if (m * 0x1p-24f != a) {
                throw new IllegalArgumentException("not a half: " + v);
            }
            return (short) (sign | m);
        }
        int e = Math.getExponent(a);
        int m = (Float.floatToIntBits(a) >>> 13) & 0x3ff;
        if ((Float.floatToIntBits(a) & 0x1fff) != 0 || e > 15) {
            throw new IllegalArgumentException("not a half: " + v);
        }
        return (short) (sign | (e + 15) << 10 | m);
    }
}
