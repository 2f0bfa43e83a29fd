package org.onnxfuse.kernels;

import java.util.Arrays;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUfunction;

/**
 * {@link GramKMeans} on the GPU (kmeans.cu): C, G and t are uploaded once; a step uploads the
 * O(m) assignment and downloads the O(m) answer, while the m x k distance table stays on the
 * device (kept between steps of the same k). Bit-identical to {@link CpuGramKMeans}: the kernels
 * make the same float64 operations in the same order without fused multiply-adds. Locks its
 * backend for every call; the backend closes it if it is still open when the backend closes.
 */
final class CudaGramKMeans implements GramKMeans {
    /** The kernels of kmeans.cu that this class launches. */
    static final String[] KERNELS = {"kmeans_seed_update", "kmeans_argmax", "kmeans_rows", "kmeans_quadratic",
        "kmeans_distances", "kmeans_nearest"};
    /** Largest grid y of a launch (CUDA's limit); kmeans_distances strides the groups over it. */
    private static final int MAX_GRID_Y = 65_535;

    private final CudaBackend backend;
    private final int m;
    private final DeviceBuffer cross;
    private final DeviceBuffer gram;
    private final DeviceBuffer norms;
    private DeviceBuffer table;
    private int tableGroups;
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
    public int[] farthestFirst(int first, int k) {
        GramKMeansArguments.farthestFirst(m, first, k);
        synchronized (backend) {
            requireOpen();
            backend.makeCurrent();
            int[] seeds = new int[k];
            double[] infinities = new double[m];
            Arrays.fill(infinities, Double.POSITIVE_INFINITY);
            int[] picked = new int[1];
            try (DeviceBuffer nearest = DeviceBuffer.upload(infinities);
                 DeviceBuffer chosen = DeviceBuffer.upload(new int[m]);
                 DeviceBuffer pick = new DeviceBuffer(4)) {
                int blocks = CudaBackend.ceilDiv(m, CudaBackend.BLOCK_THREADS);
                int seed = first;
                for (int c = 0; c < k; c++) {
                    if (c > 0) {
                        launch("kmeans_argmax", 1, 1, Pointer.to(ints(m), Pointer.to(nearest.pointer()),
                                Pointer.to(chosen.pointer()), Pointer.to(pick.pointer())));
                        pick.copyTo(picked);
                        seed = picked[0];
                    }
                    seeds[c] = seed;
                    launch("kmeans_seed_update", blocks, 1, Pointer.to(ints(m), ints(seed),
                            Pointer.to(cross.pointer()), Pointer.to(gram.pointer()), Pointer.to(norms.pointer()),
                            Pointer.to(nearest.pointer()), Pointer.to(chosen.pointer())));
                }
            } catch (CudaException e) {
                throw backend.failure("k-means farthest-first (m = " + m + ", k = " + k + ")", e);
            }
            return seeds;
        }
    }

    @Override
    public Step step(int k, int[] owner, double[] weight, int[] current) {
        GramKMeansArguments.step(m, k, owner, weight, current);
        // Group g's members, ascending: members[start[g] .. start[g + 1]).
        GroupMembers grouped = GroupMembers.of(owner, k, null);
        int[] start = grouped.start();
        int[] members = grouped.members();
        boolean hasCurrent = current != null;
        int[] next = new int[m];
        double[] nextD2 = new double[m];
        double[] currentD2 = hasCurrent ? new double[m] : null;
        synchronized (backend) {
            requireOpen();
            backend.makeCurrent();
            try (DeviceBuffer dOwner = DeviceBuffer.upload(owner);
                 DeviceBuffer dWeight = DeviceBuffer.upload(weight);
                 DeviceBuffer dStart = DeviceBuffer.upload(start);
                 DeviceBuffer dMembers = DeviceBuffer.upload(members);
                 DeviceBuffer dCurrent = DeviceBuffer.upload(hasCurrent ? current : new int[0]);
                 DeviceBuffer row = new DeviceBuffer(8L * m);
                 DeviceBuffer quadratic = new DeviceBuffer(8L * k);
                 DeviceBuffer dNext = new DeviceBuffer(4L * m);
                 DeviceBuffer dNextD2 = new DeviceBuffer(8L * m);
                 DeviceBuffer dCurrentD2 = new DeviceBuffer(8L * m)) {
                DeviceBuffer d2 = table(k);
                int blocks = CudaBackend.ceilDiv(m, CudaBackend.BLOCK_THREADS);
                launch("kmeans_rows", blocks, 1, Pointer.to(ints(m), Pointer.to(gram.pointer()),
                        Pointer.to(dOwner.pointer()), Pointer.to(dWeight.pointer()), Pointer.to(dStart.pointer()),
                        Pointer.to(dMembers.pointer()), Pointer.to(row.pointer())));
                launch("kmeans_quadratic", CudaBackend.ceilDiv(k, CudaBackend.BLOCK_THREADS), 1,
                        Pointer.to(ints(k), Pointer.to(dWeight.pointer()), Pointer.to(dStart.pointer()),
                                Pointer.to(dMembers.pointer()), Pointer.to(row.pointer()),
                                Pointer.to(quadratic.pointer())));
                launch("kmeans_distances", blocks, Math.min(k, MAX_GRID_Y), Pointer.to(ints(m), ints(k),
                        Pointer.to(cross.pointer()), Pointer.to(norms.pointer()), Pointer.to(dWeight.pointer()),
                        Pointer.to(dStart.pointer()), Pointer.to(dMembers.pointer()), Pointer.to(quadratic.pointer()),
                        Pointer.to(d2.pointer())));
                launch("kmeans_nearest", blocks, 1, Pointer.to(ints(m), ints(k), Pointer.to(d2.pointer()),
                        ints(hasCurrent ? 1 : 0), Pointer.to(dCurrent.pointer()), Pointer.to(dNext.pointer()),
                        Pointer.to(dNextD2.pointer()), Pointer.to(dCurrentD2.pointer())));
                dNext.copyTo(next);
                dNextD2.copyTo(nextD2);
                if (hasCurrent) {
                    dCurrentD2.copyTo(currentD2);
                }
            } catch (CudaException e) {
                throw backend.failure("k-means step (m = " + m + ", k = " + k + ")", e);
            }
        }
        return new Step(currentD2, next, nextD2);
    }

    /** The m x k distance table on the device, reallocated when k changes. */
    private DeviceBuffer table(int k) {
        if (table == null || tableGroups != k) {
            DeviceBuffer.closeQuietly(table);
            table = null;
            table = new DeviceBuffer(8L * m * k);
            tableGroups = k;
        }
        return table;
    }

    private void launch(String kernel, int gridX, int gridY, Pointer params) {
        CUfunction function = backend.kmeansKernels.get(kernel);
        try {
            backend.launch(function, gridX, gridY, 1, params);
        } catch (CudaException e) {
            throw new CudaException(kernel + ": " + e.getMessage(), e);
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
