package org.onnxfuse.kernels;

import java.util.Arrays;
import java.util.Objects;

/**
 * An immutable dense matrix of float64 values stored <b>column-major</b>: element (i, j) is
 * {@code data[i + j * rows]}. Column-major is LAPACK's native layout (row-major LAPACK calls were
 * measured 2x slower here), so backends hand the array to BLAS and LAPACK without reordering.
 *
 * <p>Public constructors and accessors copy; the array is never shared with callers, so a
 * matrix can be passed between threads and backends freely.
 */
public final class DenseMatrix {
    private final int rows;
    private final int cols;
    private final double[] data;

    /**
     * A matrix with the given elements in column-major order; the array is copied.
     *
     * @throws IllegalArgumentException if a dimension is negative or {@code columnMajor.length}
     *     is not {@code rows * cols}
     */
    public DenseMatrix(int rows, int cols, double[] columnMajor) {
        this(Objects.requireNonNull(columnMajor, "columnMajor").clone(), rows, cols);
    }

    /** Takes {@code data} as is (no copy); every caller owns the array it passes. */
    private DenseMatrix(double[] data, int rows, int cols) {
        long size = checkedSize(rows, cols);
        if (data.length != size) {
            throw new IllegalArgumentException("a " + rows + " x " + cols + " matrix needs " + size
                    + " elements, found " + data.length);
        }
        this.rows = rows;
        this.cols = cols;
        this.data = data;
    }

    /**
     * A matrix that takes {@code columnMajor} (column-major elements) without copying it, for a
     * caller that has just filled the array and hands it over: it must not keep, read or modify
     * the array afterwards. For large matrices built element by element (a level's prior, d x m),
     * where the copying constructor would hold them twice.
     *
     * @throws IllegalArgumentException as {@link #DenseMatrix(int, int, double[])}
     */
    public static DenseMatrix handedOver(int rows, int cols, double[] columnMajor) {
        return new DenseMatrix(Objects.requireNonNull(columnMajor, "columnMajor"), rows, cols);
    }

    /** Takes ownership of {@code columnMajor} without copying; for backends that just filled it. */
    static DenseMatrix wrap(int rows, int cols, double[] columnMajor) {
        return new DenseMatrix(columnMajor, rows, cols);
    }

    public static DenseMatrix zeros(int rows, int cols) {
        return wrap(rows, cols, new double[checkedSize(rows, cols)]);
    }

    public static DenseMatrix identity(int n) {
        double[] d = new double[checkedSize(n, n)];
        for (int i = 0; i < n; i++) {
            d[i + i * n] = 1.0;
        }
        return wrap(n, n, d);
    }

    /** A matrix from elements in row-major order ({@code rowMajor[i * cols + j]} is (i, j)). */
    public static DenseMatrix fromRowMajor(int rows, int cols, double[] rowMajor) {
        long size = checkedSize(rows, cols);
        if (rowMajor.length != size) {
            throw new IllegalArgumentException("a " + rows + " x " + cols + " matrix needs " + size
                    + " elements, found " + rowMajor.length);
        }
        double[] d = new double[(int) size];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                d[i + j * rows] = rowMajor[i * cols + j];
            }
        }
        return wrap(rows, cols, d);
    }

    /** A matrix from rows of equal length, e.g. {@code fromRows(new double[][] {{1, 2}, {3, 4}})}. */
    public static DenseMatrix fromRows(double[][] rowArrays) {
        int rows = rowArrays.length;
        int cols = rows == 0 ? 0 : rowArrays[0].length;
        double[] d = new double[checkedSize(rows, cols)];
        for (int i = 0; i < rows; i++) {
            if (rowArrays[i].length != cols) {
                throw new IllegalArgumentException("row " + i + " has " + rowArrays[i].length
                        + " elements, expected " + cols + " like row 0");
            }
            for (int j = 0; j < cols; j++) {
                d[i + j * rows] = rowArrays[i][j];
            }
        }
        return wrap(rows, cols, d);
    }

    public int rows() {
        return rows;
    }

    public int cols() {
        return cols;
    }

    public double get(int i, int j) {
        Objects.checkIndex(i, rows);
        Objects.checkIndex(j, cols);
        return data[i + j * rows];
    }

    /** Columns {@code from} (inclusive) to {@code to} (exclusive) as a new rows x (to - from) matrix. */
    public DenseMatrix columns(int from, int to) {
        Objects.checkFromToIndex(from, to, cols);
        return wrap(rows, to - from, Arrays.copyOfRange(data, from * rows, to * rows));
    }

    /** Columns {@code columns[0 .. count)}, in that order, as a new rows x count matrix. */
    public DenseMatrix gather(int[] columns, int count) {
        Objects.checkFromIndexSize(0, count, columns.length);
        double[] out = new double[Math.multiplyExact(rows, count)];
        for (int c = 0; c < count; c++) {
            Objects.checkIndex(columns[c], cols);
            System.arraycopy(data, columns[c] * rows, out, c * rows, rows);
        }
        return wrap(rows, count, out);
    }

    /** sum_i this(i, j) * v[offset + i], in ascending i: column j's dot product with a slice of v. */
    public double columnDot(int j, double[] v, int offset) {
        Objects.checkIndex(j, cols);
        Objects.checkFromIndexSize(offset, rows, v.length);
        int from = j * rows;
        double sum = 0.0;
        for (int i = 0; i < rows; i++) {
            sum += data[from + i] * v[offset + i];
        }
        return sum;
    }

    /** Column {@code j} (a copy). */
    public double[] column(int j) {
        Objects.checkIndex(j, cols);
        return Arrays.copyOfRange(data, j * rows, (j + 1) * rows);
    }

    /** target[offset + i] += alpha * this(i, j) for every row i: a scaled column added without a copy. */
    public void addScaledColumn(int j, double alpha, double[] target, int offset) {
        Objects.checkIndex(j, cols);
        Objects.checkFromIndexSize(offset, rows, target.length);
        int from = j * rows;
        for (int i = 0; i < rows; i++) {
            target[offset + i] += alpha * data[from + i];
        }
    }

    /** How many elements are not zero. */
    public long nonZeros() {
        long count = 0;
        for (double x : data) {
            if (x != 0) {
                count++;
            }
        }
        return count;
    }

    /**
     * this x u reading u's non-zeros only (a zero of u adds nothing, not even a NaN of this):
     * O(rows nnz(u) + u's size) where the dense product is O(rows cols u.cols). For a grouping's
     * member weights (a non-zero or two per row); every element sums its terms in the order of u's rows.
     */
    public DenseMatrix timesSparse(DenseMatrix u) {
        if (u.rows != cols) {
            throw new IllegalArgumentException("timesSparse: expected " + cols + " rows in u (this is " + shape()
                    + "), found " + u.shape());
        }
        double[] out = new double[checkedSize(rows, u.cols)];
        for (int g = 0; g < u.cols; g++) {
            int uc = g * u.rows;
            int oc = g * rows;
            for (int i = 0; i < u.rows; i++) {
                double x = u.data[uc + i];
                if (x != 0) {
                    int wc = i * rows;
                    for (int p = 0; p < rows; p++) {
                        out[oc + p] += x * data[wc + p];
                    }
                }
            }
        }
        return wrap(rows, u.cols, out);
    }

    /** this + alpha other, in one new matrix; the shapes must match. */
    public DenseMatrix plusScaled(double alpha, DenseMatrix other) {
        requireSameShape(other);
        double[] out = new double[data.length];
        for (int k = 0; k < out.length; k++) {
            out[k] = data[k] + alpha * other.data[k];
        }
        return wrap(rows, cols, out);
    }

    /** A copy of the elements in column-major order. */
    public double[] toColumnMajor() {
        return data.clone();
    }

    /** A copy of the elements in row-major order. */
    public double[] toRowMajor() {
        double[] out = new double[data.length];
        for (int j = 0; j < cols; j++) {
            for (int i = 0; i < rows; i++) {
                out[i * cols + j] = data[i + j * rows];
            }
        }
        return out;
    }

    public DenseMatrix transpose() {
        double[] out = new double[data.length];
        for (int j = 0; j < cols; j++) {
            for (int i = 0; i < rows; i++) {
                out[j + i * cols] = data[i + j * rows];
            }
        }
        return wrap(cols, rows, out);
    }

    public boolean isSquare() {
        return rows == cols;
    }

    /** The largest |this(i, j) - other(i, j)|; the shapes must match. */
    public double maxAbsDifference(DenseMatrix other) {
        requireSameShape(other);
        double max = 0.0;
        for (int k = 0; k < data.length; k++) {
            double diff = Math.abs(data[k] - other.data[k]);
            if (!(diff <= max)) {
                max = diff; // also propagates NaN
            }
        }
        return max;
    }

    /** The largest |element|. */
    public double maxAbs() {
        double max = 0.0;
        for (double v : data) {
            double a = Math.abs(v);
            if (!(a <= max)) {
                max = a;
            }
        }
        return max;
    }

    /** Shape as "rows x cols", for error messages. */
    public String shape() {
        return rows + " x " + cols;
    }

    /** The backing array, not copied: backends only read it. */
    double[] data() {
        return data;
    }

    private void requireSameShape(DenseMatrix other) {
        if (other.rows != rows || other.cols != cols) {
            throw new IllegalArgumentException("expected a " + shape() + " matrix, found " + other.shape());
        }
    }

    static int checkedSize(int rows, int cols) {
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("matrix dimensions must be >= 0, found " + rows + " x " + cols);
        }
        long size = (long) rows * cols;
        if (size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a " + rows + " x " + cols
                    + " matrix has more elements than a Java array holds (" + size + ")");
        }
        return (int) size;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DenseMatrix m && m.rows == rows && m.cols == cols && Arrays.equals(m.data, data);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * rows + cols) + Arrays.hashCode(data);
    }

    @Override
    public String toString() {
        if (data.length > 36) {
            return "DenseMatrix[" + shape() + "]";
        }
        StringBuilder sb = new StringBuilder("DenseMatrix[").append(shape()).append("]{");
        for (int i = 0; i < rows; i++) {
            sb.append(i == 0 ? "" : "; ");
            for (int j = 0; j < cols; j++) {
                sb.append(j == 0 ? "" : ", ").append(data[i + j * rows]);
            }
        }
        return sb.append('}').toString();
    }
}
