package org.onnxfuse.fusion.data;

import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Objects;

/**
 * The parsed header of one {@code .npy} array.
 *
 * @param dtype element type
 * @param byteOrder byte order of the elements (little-endian for one-byte types)
 * @param shape dimensions, outermost first; empty for a 0-d array. Copied in and out
 * @param fortranOrder whether the data is stored column-major ({@code fortran_order: True})
 * @param dataOffset byte offset of the first element from the start of the {@code .npy} stream
 */
public record ArrayHeader(DType dtype, ByteOrder byteOrder, long[] shape, boolean fortranOrder,
                          long dataOffset) {

    public ArrayHeader {
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(byteOrder, "byteOrder");
        shape = shape.clone();
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Text.shape(shape));
            }
        }
        if (dataOffset < 0) {
            throw new IllegalArgumentException("negative data offset " + dataOffset);
        }
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    /** The descr as numpy writes it, e.g. {@code <f4}. */
    public String descr() {
        return dtype.descr(byteOrder);
    }

    /** Number of elements, or -1 when the product does not fit in a long. */
    public long elementCount() {
        long n = 1;
        for (long d : shape) {
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                return -1;
            }
        }
        return n;
    }

    /** Bytes of element data, or -1 when it does not fit in a long. */
    public long dataBytes() {
        long n = elementCount();
        if (n < 0 || n > Long.MAX_VALUE / dtype.itemSize()) {
            return -1;
        }
        return n * dtype.itemSize();
    }

    /** Samples are the first axis; a 0-d array counts as one sample of shape {@code []}. */
    public long samples() {
        return shape.length == 0 ? 1 : shape[0];
    }

    /** The shape of one sample: the shape without its first axis. */
    public long[] sampleShape() {
        return shape.length == 0 ? new long[0] : Arrays.copyOfRange(shape, 1, shape.length);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ArrayHeader h && dtype == h.dtype && byteOrder.equals(h.byteOrder)
                && Arrays.equals(shape, h.shape) && fortranOrder == h.fortranOrder
                && dataOffset == h.dataOffset;
    }

    @Override
    public int hashCode() {
        return Objects.hash(dtype, byteOrder, Arrays.hashCode(shape), fortranOrder, dataOffset);
    }

    @Override
    public String toString() {
        return "ArrayHeader[" + descr() + " " + Text.shape(shape) + (fortranOrder ? " fortran" : "")
                + " data at " + dataOffset + "]";
    }
}
