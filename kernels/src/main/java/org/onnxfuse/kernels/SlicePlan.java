package org.onnxfuse.kernels;

/**
 * How the CUDA statistics kernel splits a batch's samples: a d x m output has few 64 x 64 tiles
 * when d and m are small, so the samples are cut into slices whose partial sums land in a
 * workspace and are then added in slice order (deterministic, unlike atomics). One slice means the
 * kernel adds straight into the sums.
 */
record SlicePlan(int slices, int rowsPerSlice) {
    static final int TILE = 64;
    static final int TILE_K = 16;
    /** Below this many samples per slice the partial sums cost more than they save. */
    static final int MIN_ROWS_PER_SLICE = 256;
    static final int MAX_SLICES = 64;
    /** Thread blocks per multiprocessor to aim for (two fit at once: 112 registers x 256 threads). */
    static final int BLOCKS_PER_MULTIPROCESSOR = 4;

    static SlicePlan of(int rows, int d, int m, boolean upperOnly, int multiprocessors, long workspaceBytes) {
        if (rows < 1 || d < 1 || m < 1) {
            throw new IllegalArgumentException("slice plan needs rows, d, m >= 1, found " + rows + ", " + d + ", " + m);
        }
        long tilesD = ceilDiv(d, TILE);
        long tilesM = ceilDiv(m, TILE);
        long tiles = upperOnly ? tilesD * (tilesD + 1) / 2 : tilesD * tilesM;
        long wanted = ceilDiv((long) BLOCKS_PER_MULTIPROCESSOR * Math.max(1, multiprocessors), tiles);
        long byRows = ceilDiv(rows, MIN_ROWS_PER_SLICE);
        long byWorkspace = workspaceBytes / (8L * d * m);
        long slices = Math.max(1, Math.min(Math.min(wanted, byRows), Math.min(byWorkspace, MAX_SLICES)));
        long rowsPerSlice = ceilDiv(ceilDiv(rows, slices), TILE_K) * TILE_K;
        slices = ceilDiv(rows, rowsPerSlice);
        return new SlicePlan((int) slices, (int) Math.min(rowsPerSlice, rows));
    }

    /** Bytes of workspace the partial sums need (zero for one slice). */
    long workspaceBytes(int d, int m) {
        return slices == 1 ? 0 : 8L * slices * d * m;
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }
}
