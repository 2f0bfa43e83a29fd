package org.onnxfuse.fusion.collect;

import org.onnxfuse.kernels.DenseMatrix;

/**
 * A level's rows as the statistics were accumulated from them: X (n x d, the ones column
 * included) and A (n x m), float32 as collected, kept for a level with fewer rows than inputs so
 * that the products of its fit can be formed in row space ({@code ProjectedTargets}, "row form").
 * Filled by {@link StatisticsCollector#collect} batch by batch, in the order of the statistics.
 */
public final class LevelRows {
    private final int capacity;
    private float[] x;
    private float[] a;
    private int d = -1;
    private int m = -1;
    private int n;

    /** Room for {@code rows} rows (the level's rows for the calibration set). */
    public LevelRows(long rows) {
        if (rows < 1 || rows > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("expected between 1 and " + Integer.MAX_VALUE + " rows, found " + rows);
        }
        this.capacity = (int) rows;
    }

    /** Appends {@code rows} rows of x (d wide) and a (m wide), row-major. */
    public void add(float[] xRows, int d, float[] aRows, int m, int rows) {
        if (this.d < 0) {
            this.d = d;
            this.m = m;
            this.x = new float[Math.multiplyExact(capacity, d)];
            this.a = new float[Math.multiplyExact(capacity, m)];
        } else if (d != this.d || m != this.m) {
            throw new IllegalStateException("a batch of " + d + " inputs and " + m + " targets after batches of "
                    + this.d + " and " + this.m);
        }
        if (n + rows > capacity) {
            throw new IllegalStateException("more than the " + capacity + " rows planned for the level");
        }
        System.arraycopy(xRows, 0, x, n * d, rows * d);
        System.arraycopy(aRows, 0, a, n * m, rows * m);
        n += rows;
    }

    /** n, the rows kept. */
    public int rows() {
        return n;
    }

    /** d, the inputs per row (the ones column included); -1 before the first batch. */
    public int inputDim() {
        return d;
    }

    /** m, the targets per row; -1 before the first batch. */
    public int targetDim() {
        return m;
    }

    /** X as an n x d float64 matrix. */
    public DenseMatrix inputs() {
        return widened(x, n, d);
    }

    /** A as an n x m float64 matrix. */
    public DenseMatrix targets() {
        return widened(a, n, m);
    }

    /** Row-major float32 to column-major float64, by tiles so that neither side is read a value per cache line. */
    private static DenseMatrix widened(float[] rowMajor, int rows, int cols) {
        double[] out = new double[Math.multiplyExact(rows, cols)];
        int tile = 64;
        for (int r0 = 0; r0 < rows; r0 += tile) {
            int r1 = Math.min(rows, r0 + tile);
            for (int c0 = 0; c0 < cols; c0 += tile) {
                int c1 = Math.min(cols, c0 + tile);
                for (int r = r0; r < r1; r++) {
                    int from = r * cols;
                    for (int c = c0; c < c1; c++) {
                        out[r + c * rows] = rowMajor[from + c];
                    }
                }
            }
        }
        return new DenseMatrix(rows, cols, out);
    }
}
