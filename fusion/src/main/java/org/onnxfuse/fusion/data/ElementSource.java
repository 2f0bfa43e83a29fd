package org.onnxfuse.fusion.data;

/**
 * The elements of one array in file order (row-major for C order, column-major for Fortran
 * order), decoded on request. Indices are element indices, not bytes.
 */
interface ElementSource extends AutoCloseable {
    /** Decodes elements {@code index .. index+n-1} into {@code dst[off + k * stride]}. */
    void readFloats(long index, int n, float[] dst, int off, int stride);

    /** Like {@link #readFloats} for integer types. */
    void readLongs(long index, int n, long[] dst, int off, int stride);

    @Override
    void close();
}
