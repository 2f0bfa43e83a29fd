package org.onnxfuse.kernels;

/** Argument checks, the sample count and the closed state, shared by the backends' accumulators. */
abstract class AbstractStatisticsAccumulator implements StatisticsAccumulator {
    /**
     * Values of X (and of A) handed on at once by {@link #addGathered} (256 KiB of floats each):
     * the block stays in cache while it is widened, and it is small beside the accumulator's own
     * blocks of rows.
     */
    static final int GATHER_BLOCK_ELEMENTS = 1 << 16;
    protected final int d;
    protected final int m;
    /** Whether the full S_aa is kept; otherwise only {@link #targetSquares}, its diagonal. */
    protected final boolean targetGram;
    private final double[] targetSquares;
    private long rows;
    private boolean closed;

    AbstractStatisticsAccumulator(int d, int m, boolean targetGram) {
        if (d < 1 || m < 0) {
            throw new IllegalArgumentException("statistics need d >= 1 features and m >= 0 targets, found d = "
                    + d + ", m = " + m);
        }
        DenseMatrix.checkedSize(d, d);
        DenseMatrix.checkedSize(d, m);
        if (targetGram) {
            DenseMatrix.checkedSize(m, m);
        }
        this.d = d;
        this.m = m;
        this.targetGram = targetGram;
        this.targetSquares = targetGram ? null : new double[m];
    }

    @Override
    public final int inputDim() {
        return d;
    }

    @Override
    public final int targetDim() {
        return m;
    }

    @Override
    public final long rows() {
        return rows;
    }

    @Override
    public final void accumulate(float[] x, float[] a, int batchRows) {
        requireOpen();
        if (x == null || a == null) {
            throw new NullPointerException("accumulate needs both x and a (a may be empty when m = 0)");
        }
        if (batchRows < 0) {
            throw new IllegalArgumentException("rows must be >= 0, found " + batchRows);
        }
        if (x.length < (long) batchRows * d) {
            throw new IllegalArgumentException("x has " + x.length + " elements, expected at least " + batchRows
                    + " rows x " + d + " features = " + (long) batchRows * d);
        }
        if (a.length < (long) batchRows * m) {
            throw new IllegalArgumentException("a has " + a.length + " elements, expected at least " + batchRows
                    + " rows x " + m + " targets = " + (long) batchRows * m);
        }
        if (batchRows == 0) {
            return;
        }
        add(x, a, batchRows);
        addTargetSquares(a, batchRows);
        rows += batchRows;
    }

    @Override
    public final void accumulateGathered(RowGather gather, float[] input, int count, float[] a) {
        requireOpen();
        if (gather.columns() != d) {
            throw new IllegalArgumentException("the gather makes rows of " + gather.columns() + " columns, expected d = "
                    + d);
        }
        if (count < 0 || input.length != (long) count * gather.sampleSize()) {
            throw new IllegalArgumentException("input holds " + input.length + " values, expected " + count
                    + " samples of " + gather.sampleSize());
        }
        long batchRows = (long) count * gather.positions();
        if (a.length < batchRows * m) {
            throw new IllegalArgumentException("a has " + a.length + " elements, expected at least " + batchRows
                    + " rows x " + m + " targets = " + batchRows * m);
        }
        if (count == 0) {
            return;
        }
        addGathered(gather, input, count, a);
        addTargetSquares(a, Math.toIntExact(batchRows));
        rows += batchRows;
    }

    /**
     * Unfolds on the host a block of rows at a time ({@link #GATHER_BLOCK_ELEMENTS} values of X
     * at most) and adds each block: the rows of the whole batch (count x positions x d, 151 MB for
     * 256 samples at VGG11's second level) are never held at once. The CUDA accumulator overrides
     * it to unfold on the device.
     */
    void addGathered(RowGather gather, float[] input, int count, float[] a) {
        long batchRows = (long) count * gather.positions();
        int blockRows = Math.max(1, GATHER_BLOCK_ELEMENTS / Math.max(d, m));
        int rows = (int) Math.min(blockRows, batchRows);
        float[] x = new float[rows * d];
        float[] targets = new float[rows * m];
        for (long first = 0; first < batchRows; first += blockRows) {
            int n = (int) Math.min(blockRows, batchRows - first);
            gather.unfoldRows(input, first, n, x);
            System.arraycopy(a, Math.toIntExact(first * m), targets, 0, n * m);
            add(x, targets, n);
        }
    }

    /** Without the target Gram: the diagonal of A^T A, summed here in float64 (O(rows m), the backend skips A^T A). */
    private void addTargetSquares(float[] a, int batchRows) {
        if (targetGram) {
            return;
        }
        for (int r = 0; r < batchRows; r++) {
            int row = r * m;
            for (int i = 0; i < m; i++) {
                double v = a[row + i];
                targetSquares[i] += v * v;
            }
        }
    }

    @Override
    public final SufficientStatistics statistics() {
        requireOpen();
        double[] xx = new double[d * d];
        double[] xa = new double[d * m];
        double[] aa = targetGram ? new double[m * m] : null;
        read(xx, xa, aa);
        mirrorUpperToLower(xx, d);
        if (!targetGram) {
            return new SufficientStatistics(rows, DenseMatrix.wrap(d, d, xx), DenseMatrix.wrap(d, m, xa), null,
                    DenseMatrix.wrap(m, 1, targetSquares.clone()));
        }
        mirrorUpperToLower(aa, m);
        return new SufficientStatistics(rows, DenseMatrix.wrap(d, d, xx), DenseMatrix.wrap(d, m, xa),
                DenseMatrix.wrap(m, m, aa));
    }

    @Override
    public final void reset() {
        requireOpen();
        clear();
        if (targetSquares != null) {
            java.util.Arrays.fill(targetSquares, 0.0);
        }
        rows = 0;
    }

    @Override
    public final void close() {
        if (!closed) {
            closed = true;
            release();
        }
    }

    /** Adds a checked, non-empty batch. */
    abstract void add(float[] x, float[] a, int batchRows);

    /**
     * Copies the sums out, column-major; only the upper triangles of xx and aa need be valid. aa is
     * null without the target Gram.
     */
    abstract void read(double[] xx, double[] xa, double[] aa);

    /** Zeroes the sums. */
    abstract void clear();

    /** Frees memory; called once. */
    abstract void release();

    final boolean isClosed() {
        return closed;
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("this statistics accumulator (d = " + d + ", m = " + m + ") is closed");
        }
    }

    /** BLAS syrk and our kernels fill the upper triangle (i <= j) of a column-major n x n matrix. */
    static void mirrorUpperToLower(double[] a, int n) {
        // In tiles, so the strided reads stay in cache (n = 2048: ~14 ms row by row, ~5 ms tiled).
        final int tile = 64;
        for (int j0 = 0; j0 < n; j0 += tile) {
            int j1 = Math.min(n, j0 + tile);
            for (int i0 = j0; i0 < n; i0 += tile) {
                int i1 = Math.min(n, i0 + tile);
                for (int j = j0; j < j1; j++) {
                    int col = j * n;
                    for (int i = Math.max(i0, j + 1); i < i1; i++) {
                        a[i + col] = a[j + i * n];
                    }
                }
            }
        }
    }
}
