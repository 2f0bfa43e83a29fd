package org.onnxfuse.kernels;

import java.util.Arrays;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.JCudaDriver;

/**
 * {@link GramKMeans} on the GPU (kmeans.cu): C, G and t are uploaded once; a step uploads the
 * O(m) assignment and downloads the O(m) answer, while the m x k distance table stays on the
 * device (its buffer kept between steps). Restarts run as one batch: each kernel launches once
 * for all of them (restart in grid z), with one distance table per restart, so R restarts cost
 * the launches and synchronisations of one. Bit-identical to {@link CpuGramKMeans}: the kernels
 * make the same float64 operations in the same order without fused multiply-adds. Locks its
 * backend for every call; the backend closes it if it is still open when the backend closes.
 */
final class CudaGramKMeans implements GramKMeans {
    /** The kernels of kmeans.cu that this class launches. */
    static final String[] KERNELS = {"kmeans_seed_update", "kmeans_argmax", "kmeans_rows", "kmeans_quadratic",
        "kmeans_distances", "kmeans_nearest"};
    /** Largest grid y of a launch (CUDA's limit); kmeans_distances strides the groups over it. */
    private static final int MAX_GRID_Y = 65_535;
    /** Most restarts stepped in one launch (grid z, whose limit is 65,535). */
    static final int MAX_RESTART_BATCH = 64;

    private final CudaBackend backend;
    private final int m;
    private final DeviceBuffer cross;
    private final DeviceBuffer gram;
    private final DeviceBuffer norms;
    private DeviceBuffer table;
    private boolean closed;

    CudaGramKMeans(CudaBackend backend, double[] cross, double[] gram, double[] targetSquaredNorms, int m) {
        GramKMeansArguments.inputs(cross, gram, targetSquaredNorms, m);
        this.backend = backend;
        this.m = m;
        DeviceBuffer[] inputs = new DeviceBuffer[3];
        try {
            inputs[0] = DeviceBuffer.upload(cross);
            inputs[1] = DeviceBuffer.upload(gram);
            inputs[2] = DeviceBuffer.upload(targetSquaredNorms);
        } catch (CudaException e) {
            for (DeviceBuffer input : inputs) {
                DeviceBuffer.closeQuietly(input);
            }
            throw backend.failure("k-means upload (m = " + m + ", " + 16L * m * m / (1 << 20) + " MiB)", e);
        }
        this.cross = inputs[0];
        this.gram = inputs[1];
        this.norms = inputs[2];
    }

    @Override
    public int neurons() {
        return m;
    }

    @Override
    public int restartBatch(int k) {
        GramKMeansArguments.groups(m, k);
        // a restart's distance table (m x k) and its O(m + k) arrays of a step
        long perRestart = 8L * m * k + 48L * m + 12L * (k + 1);
        long[] free = new long[1];
        long[] total = new long[1];
        synchronized (backend) {
            requireOpen();
            backend.makeCurrent();
            try {
                JCudaDriver.cuMemGetInfo(free, total);
            } catch (CudaException e) {
                throw backend.failure("k-means free memory query", e);
            }
        }
        // half the free memory at most: the tables must not crowd out the next level's statistics
        return (int) Math.max(1, Math.min(MAX_RESTART_BATCH, free[0] / 2 / perRestart));
    }

    @Override
    public int[] farthestFirst(int first, int k) {
        return farthestFirst(new int[] {first}, k)[0];
    }

    /**
     * All restarts' seeds in 2k - 1 launches: per step c, kmeans_argmax picks each restart's seed c
     * on the device (one block per restart) and kmeans_seed_update folds it into that restart's
     * nearest distances; the seeds come back once, at the end.
     */
    @Override
    public int[][] farthestFirst(int[] firsts, int k) {
        GramKMeansArguments.farthestFirst(m, firsts, k);
        int restarts = firsts.length;
        int[][] seeds = new int[restarts][];
        if (restarts == 0) {
            return seeds;
        }
        double[] infinities = new double[Math.multiplyExact(restarts, m)];
        Arrays.fill(infinities, Double.POSITIVE_INFINITY);
        int[] seedTable = new int[Math.multiplyExact(restarts, k)];
        for (int r = 0; r < restarts; r++) {
            seedTable[r * k] = firsts[r];
        }
        synchronized (backend) {
            requireOpen();
            backend.makeCurrent();
            try (DeviceBuffer nearest = DeviceBuffer.upload(infinities);
                 DeviceBuffer chosen = DeviceBuffer.upload(new int[infinities.length]);
                 DeviceBuffer dSeeds = DeviceBuffer.upload(seedTable)) {
                int blocks = CudaBackend.ceilDiv(m, CudaBackend.BLOCK_THREADS);
                for (int c = 0; c < k; c++) {
                    if (c > 0) {
                        launch("kmeans_argmax", 1, 1, restarts, Pointer.to(ints(m), ints(k), ints(c),
                                Pointer.to(nearest.pointer()), Pointer.to(chosen.pointer()),
                                Pointer.to(dSeeds.pointer())));
                    }
                    launch("kmeans_seed_update", blocks, 1, restarts, Pointer.to(ints(m), ints(k), ints(c),
                            Pointer.to(cross.pointer()), Pointer.to(gram.pointer()), Pointer.to(norms.pointer()),
                            Pointer.to(nearest.pointer()), Pointer.to(chosen.pointer()), Pointer.to(dSeeds.pointer())));
                }
                dSeeds.copyTo(seedTable);
            } catch (CudaException e) {
                throw backend.failure("k-means farthest-first (m = " + m + ", k = " + k + ", " + restarts
                        + " restarts)", e);
            }
        }
        for (int r = 0; r < restarts; r++) {
            seeds[r] = Arrays.copyOfRange(seedTable, r * k, (r + 1) * k);
        }
        return seeds;
    }

    @Override
    public Step step(int k, int[] owner, double[] weight, int[] current) {
        return steps(k, new int[] {0}, new int[][] {owner}, new double[][] {weight}, new int[][] {current})[0];
    }

    /**
     * Every restart's step in four launches, restart r in grid z: the restarts' O(m) inputs go up
     * stacked in one buffer each, their distance tables (m x k each) stay on the device, and the
     * three m-vectors of each come back. The ids are not needed: nothing is kept per restart.
     */
    @Override
    public Step[] steps(int k, int[] restarts, int[][] owners, double[][] weights, int[][] currents) {
        GramKMeansArguments.steps(m, k, restarts, owners, weights, currents);
        int count = restarts.length;
        if (count == 0) {
            return new Step[0];
        }
        int stacked = Math.multiplyExact(count, m);
        int[] owner = new int[stacked];
        double[] weight = new double[stacked];
        int[] current = new int[stacked];
        int[] hasCurrent = new int[count];
        int[] start = new int[Math.multiplyExact(count, k + 1)];
        int[] members = new int[stacked];
        for (int b = 0; b < count; b++) {
            System.arraycopy(owners[b], 0, owner, b * m, m);
            System.arraycopy(weights[b], 0, weight, b * m, m);
            if (currents[b] != null) {
                System.arraycopy(currents[b], 0, current, b * m, m);
                hasCurrent[b] = 1;
            }
            // group g's members, ascending: members[start[g] .. start[g + 1]) within the restart's part
            GroupMembers grouped = GroupMembers.of(owners[b], k, null);
            System.arraycopy(grouped.start(), 0, start, b * (k + 1), k + 1);
            System.arraycopy(grouped.members(), 0, members, b * m, grouped.members().length);
        }
        int[] next = new int[stacked];
        double[] nextD2 = new double[stacked];
        double[] currentD2 = new double[stacked];
        synchronized (backend) {
            requireOpen();
            backend.makeCurrent();
            try (DeviceBuffer dOwner = DeviceBuffer.upload(owner);
                 DeviceBuffer dWeight = DeviceBuffer.upload(weight);
                 DeviceBuffer dStart = DeviceBuffer.upload(start);
                 DeviceBuffer dMembers = DeviceBuffer.upload(members);
                 DeviceBuffer dCurrent = DeviceBuffer.upload(current);
                 DeviceBuffer dHasCurrent = DeviceBuffer.upload(hasCurrent);
                 DeviceBuffer row = new DeviceBuffer(8L * stacked);
                 DeviceBuffer quadratic = new DeviceBuffer(8L * count * k);
                 DeviceBuffer dNext = new DeviceBuffer(4L * stacked);
                 DeviceBuffer dNextD2 = new DeviceBuffer(8L * stacked);
                 DeviceBuffer dCurrentD2 = new DeviceBuffer(8L * stacked)) {
                DeviceBuffer d2 = table(8L * m * k * count);
                int blocks = CudaBackend.ceilDiv(m, CudaBackend.BLOCK_THREADS);
                launch("kmeans_rows", blocks, 1, count, Pointer.to(ints(m), ints(k), Pointer.to(gram.pointer()),
                        Pointer.to(dOwner.pointer()), Pointer.to(dWeight.pointer()), Pointer.to(dStart.pointer()),
                        Pointer.to(dMembers.pointer()), Pointer.to(row.pointer())));
                launch("kmeans_quadratic", CudaBackend.ceilDiv(k, CudaBackend.BLOCK_THREADS), 1, count,
                        Pointer.to(ints(m), ints(k), Pointer.to(dWeight.pointer()), Pointer.to(dStart.pointer()),
                                Pointer.to(dMembers.pointer()), Pointer.to(row.pointer()),
                                Pointer.to(quadratic.pointer())));
                launch("kmeans_distances", blocks, Math.min(k, MAX_GRID_Y), count, Pointer.to(ints(m), ints(k),
                        Pointer.to(cross.pointer()), Pointer.to(norms.pointer()), Pointer.to(dWeight.pointer()),
                        Pointer.to(dStart.pointer()), Pointer.to(dMembers.pointer()), Pointer.to(quadratic.pointer()),
                        Pointer.to(d2.pointer())));
                launch("kmeans_nearest", blocks, 1, count, Pointer.to(ints(m), ints(k), Pointer.to(d2.pointer()),
                        Pointer.to(dHasCurrent.pointer()), Pointer.to(dCurrent.pointer()), Pointer.to(dNext.pointer()),
                        Pointer.to(dNextD2.pointer()), Pointer.to(dCurrentD2.pointer())));
                dNext.copyTo(next);
                dNextD2.copyTo(nextD2);
                dCurrentD2.copyTo(currentD2);
            } catch (CudaException e) {
                throw backend.failure("k-means step (m = " + m + ", k = " + k + ", " + count + " restarts)", e);
            }
        }
        Step[] out = new Step[count];
        for (int b = 0; b < count; b++) {
            int from = b * m;
            out[b] = new Step(currents[b] == null ? null : Arrays.copyOfRange(currentD2, from, from + m),
                    Arrays.copyOfRange(next, from, from + m), Arrays.copyOfRange(nextD2, from, from + m));
        }
        return out;
    }

    /** The restarts' distance tables on the device, kept between steps and grown when a step needs more. */
    private DeviceBuffer table(long bytes) {
        if (table == null || table.bytes() < bytes) {
            DeviceBuffer.closeQuietly(table);
            table = null;
            table = new DeviceBuffer(bytes);
        }
        return table;
    }

    private void launch(String kernel, int gridX, int gridY, int gridZ, Pointer params) {
        CUfunction function = backend.kmeansKernels.get(kernel);
        try {
            backend.launch(function, gridX, gridY, gridZ, params);
        } catch (CudaException e) {
            throw new CudaException(kernel + " (grid " + gridX + " x " + gridY + " x " + gridZ + "): "
                    + e.getMessage(), e);
        }
    }

    private static Pointer ints(int value) {
        return Pointer.to(new int[] {value});
    }

    private void requireOpen() {
        backend.requireOpen();
        if (closed) {
            throw new IllegalStateException("this k-means is closed");
        }
    }

    @Override
    public void close() {
        synchronized (backend) {
            if (closed) {
                return;
            }
            closed = true;
            backend.forget(this);
            try {
                backend.makeCurrent();
            } catch (CudaException e) {
                return; // the context is gone; the driver reclaimed the memory with it
            }
            for (DeviceBuffer b : new DeviceBuffer[] {cross, gram, norms, table}) {
                DeviceBuffer.closeQuietly(b);
            }
            table = null;
        }
    }
}
