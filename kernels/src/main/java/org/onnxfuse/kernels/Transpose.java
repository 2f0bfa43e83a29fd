package org.onnxfuse.kernels;

/** Whether a gemm operand is used as stored or transposed (BLAS's 'N' and 'T'). */
public enum Transpose {
    NO,
    YES;

    /** Rows of op(m). */
    int rowsOf(DenseMatrix m) {
        return this == NO ? m.rows() : m.cols();
    }

    /** Columns of op(m). */
    int colsOf(DenseMatrix m) {
        return this == NO ? m.cols() : m.rows();
    }
}
