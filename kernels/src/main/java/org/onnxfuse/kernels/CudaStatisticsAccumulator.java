package org.onnxfuse.kernels;

import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.JCudaDriver;

/**
 * The sums live in device memory; each batch is copied up as float32 (half the bytes of float64)
 * and widened inside the kernel (statistics.cu), which computes exact float32 x float32 products
 * and sums them in float64, as the CPU backend does. Locks its backend for every call.
 */
final class CudaStatisticsAccumulator extends AbstractStatisticsAccumulator {
    /** float32 samples staged on the device at once, per operand (64 MB). */
    static final int BUFFER_ELEMENTS = 1 << 24;

    private final CudaBackend backend;
    private final int maxChunkRows;
    private final DeviceBuffer sxx;
    private final DeviceBuffer sxa;
    private final DeviceBuffer saa;
    private DeviceBuffer xBuffer;
    private DeviceBuffer aBuffer;
    private DeviceBuffer workspace;
    private DeviceBuffer inputBuffer;
    private DeviceBuffer offsetTable;
    private RowGather uploadedGather;
    private int bufferRows;

    CudaStatisticsAccumulator(CudaBackend backend, int d, int m) {
        super(d, m);
        this.backend = backend;
        this.maxChunkRows = Math.max(1, BUFFER_ELEMENTS / Math.max(d, m));
        DeviceBuffer[] sums = new DeviceBuffer[3];
        try {
            sums[0] = new DeviceBuffer(8L * d * d);
            sums[1] = new DeviceBuffer(8L * d * m);
            sums[2] = new DeviceBuffer(8L * m * m);
            for (DeviceBuffer sum : sums) {
                sum.zero();
            }
        } catch (CudaException e) {
            for (DeviceBuffer sum : sums) {
                DeviceBuffer.closeQuietly(sum);
            }
            throw backend.failure("allocation of the statistics (d = " + d + ", m = " + m + ", "
                    + 8L * ((long) d * d + (long) d * m + (long) m * m) / (1 << 20) + " MiB)", e);
        }
        this.sxx = sums[0];
        this.sxa = sums[1];
        this.saa = sums[2];
    }

    @Override
    void add(float[] x, float[] a, int batchRows) {
        synchronized (backend) {
            backend.requireOpen();
            backend.makeCurrent();
            try {
                for (int start = 0; start < batchRows; start += maxChunkRows) {
                    int rows = Math.min(maxChunkRows, batchRows - start);
                    ensureBuffers(rows);
                    // Synchronous copies on the legacy default stream wait for the previous
                    // chunk's kernels, so reusing the buffers is safe.
                    xBuffer.copyFrom(x, start * d, rows * d);
                    aBuffer.copyFrom(a, start * m, rows * m);
                    accumulateStaged(rows);
                }
            } catch (CudaException e) {
                throw backend.failure("statistics update (d = " + d + ", m = " + m + ", " + batchRows + " rows)", e);
            }
        }
    }

    /**
     * Uploads whole samples of the convolution's input (and the gather's offset table once per
     * gather), unfolds them on the device into the X buffer and accumulates; falls back to the
     * host unfolding when one sample's rows do not fit the buffer.
     */
    @Override
    void addGathered(RowGather gather, float[] input, int count, float[] a) {
        int positions = gather.positions();
        int samplesPerChunk = maxChunkRows / positions;
        if (samplesPerChunk < 1) {
            super.addGathered(gather, input, count, a);
            return;
        }
        int sampleSize = gather.sampleSize();
        synchronized (backend) {
            backend.requireOpen();
            backend.makeCurrent();
            try {
                if (uploadedGather != gather) {
                    DeviceBuffer.closeQuietly(offsetTable);
                    offsetTable = null;
                    uploadedGather = null;
                    int[] table = gather.offsetTable();
                    offsetTable = new DeviceBuffer(4L * table.length);
                    JCudaDriver.cuMemcpyHtoD(offsetTable.pointer(), Pointer.to(table), 4L * table.length);
                    uploadedGather = gather;
                }
                for (int start = 0; start < count; start += samplesPerChunk) {
                    int samples = Math.min(samplesPerChunk, count - start);
                    int rows = samples * positions;
                    ensureBuffers(rows);
                    long inputBytes = 4L * samples * sampleSize;
                    if (inputBuffer == null || inputBuffer.bytes() < inputBytes) {
                        DeviceBuffer.closeQuietly(inputBuffer);
                        inputBuffer = null;
                        inputBuffer = new DeviceBuffer(4L * Math.min(count, samplesPerChunk) * sampleSize);
                    }
                    inputBuffer.copyFrom(input, start * sampleSize, samples * sampleSize);
                    aBuffer.copyFrom(a, start * positions * m, rows * m);
                    Pointer params = Pointer.to(
                            Pointer.to(inputBuffer.pointer()),
                            Pointer.to(offsetTable.pointer()),
                            Pointer.to(new int[] {samples}),
                            Pointer.to(new int[] {gather.channels()}),
                            Pointer.to(new int[] {gather.inSpatial()}),
                            Pointer.to(new int[] {positions}),
                            Pointer.to(new int[] {gather.kernelSize()}),
                            Pointer.to(new int[] {gather.ones() ? 1 : 0}),
                            Pointer.to(xBuffer.pointer()));
                    int blocks = (int) Math.min(CudaBackend.ceilDiv((long) rows * d, CudaBackend.BLOCK_THREADS),
                            32L * Math.max(1, backend.multiprocessors()));
                    backend.launch(backend.im2colKernel, blocks, 1, 1, params);
                    accumulateStaged(rows);
                }
            } catch (CudaException e) {
                throw backend.failure("im2col_f32 + statistics update (" + gather + ", " + count + " samples, d = "
                        + d + ", m = " + m + ")", e);
            }
        }
    }

    /**
     * Adds the first {@code rows} samples already on the device (staged by {@link #add}) to the sums.
     * Package-private so that the device benchmark can time the kernels without the upload.
     */
    void accumulateStaged(int rows) {
        xty(xBuffer, xBuffer, rows, d, d, true, sxx);
        if (m > 0) {
            xty(xBuffer, aBuffer, rows, d, m, false, sxa);
            xty(aBuffer, aBuffer, rows, m, m, true, saa);
        }
    }

    /** out (rows x cols, column-major, ld = rows) += left^T right over {@code samples} samples. */
    private void xty(DeviceBuffer left, DeviceBuffer right, int samples, int rowsOut, int colsOut, boolean symmetric,
                     DeviceBuffer out) {
        SlicePlan plan = SlicePlan.of(samples, rowsOut, colsOut, symmetric, backend.multiprocessors(),
                CudaBackend.WORKSPACE_LIMIT_BYTES);
        boolean direct = plan.slices() == 1;
        DeviceBuffer target = direct ? out : workspace(plan.workspaceBytes(rowsOut, colsOut));
        Pointer params = Pointer.to(
                Pointer.to(left.pointer()),
                Pointer.to(right.pointer()),
                Pointer.to(new int[] {samples}),
                Pointer.to(new int[] {rowsOut}),
                Pointer.to(new int[] {colsOut}),
                Pointer.to(new int[] {plan.rowsPerSlice()}),
                Pointer.to(new int[] {symmetric ? 1 : 0}),
                Pointer.to(new int[] {direct ? 1 : 0}),
                Pointer.to(target.pointer()));
        backend.launch(backend.xtyKernel, CudaBackend.ceilDiv(colsOut, SlicePlan.TILE),
                CudaBackend.ceilDiv(rowsOut, SlicePlan.TILE), plan.slices(), params);
        if (!direct) {
            Pointer sum = Pointer.to(
                    Pointer.to(target.pointer()),
                    Pointer.to(new int[] {plan.slices()}),
                    Pointer.to(new int[] {rowsOut}),
                    Pointer.to(new int[] {colsOut}),
                    Pointer.to(new int[] {symmetric ? 1 : 0}),
                    Pointer.to(out.pointer()));
            int blocks = (int) Math.min(CudaBackend.ceilDiv((long) rowsOut * colsOut, CudaBackend.BLOCK_THREADS),
                    8L * Math.max(1, backend.multiprocessors()));
            backend.launch(backend.addSlicesKernel, blocks, 1, 1, sum);
        }
    }

    private DeviceBuffer workspace(long bytes) {
        if (workspace == null || workspace.bytes() < bytes) {
            DeviceBuffer.closeQuietly(workspace);
            workspace = null;
            workspace = new DeviceBuffer(bytes);
        }
        return workspace;
    }

    private void ensureBuffers(int rows) {
        if (rows <= bufferRows) {
            return;
        }
        int capacity = Math.min(maxChunkRows, Math.max(rows, 2 * bufferRows));
        DeviceBuffer.closeQuietly(xBuffer);
        DeviceBuffer.closeQuietly(aBuffer);
        xBuffer = null;
        aBuffer = null;
        bufferRows = 0;
        xBuffer = new DeviceBuffer(4L * capacity * d);
        aBuffer = new DeviceBuffer(4L * capacity * m);
        bufferRows = capacity;
    }

    @Override
    void read(double[] xx, double[] xa, double[] aa) {
        synchronized (backend) {
            backend.requireOpen();
            backend.makeCurrent();
            try {
                sxx.copyTo(xx);
                sxa.copyTo(xa);
                saa.copyTo(aa);
            } catch (CudaException e) {
                throw backend.failure("statistics download", e);
            }
        }
    }

    @Override
    void clear() {
        synchronized (backend) {
            backend.requireOpen();
            backend.makeCurrent();
            try {
                sxx.zero();
                sxa.zero();
                saa.zero();
            } catch (CudaException e) {
                throw backend.failure("statistics reset", e);
            }
        }
    }

    @Override
    void release() {
        synchronized (backend) {
            backend.forget(this);
            try {
                backend.makeCurrent();
            } catch (CudaException e) {
                return; // the context is gone; the driver reclaimed the memory with it
            }
            for (DeviceBuffer b : new DeviceBuffer[] {sxx, sxa, saa, xBuffer, aBuffer, workspace, inputBuffer,
                offsetTable}) {
                DeviceBuffer.closeQuietly(b);
            }
            xBuffer = null;
            aBuffer = null;
            workspace = null;
            inputBuffer = null;
            offsetTable = null;
            uploadedGather = null;
        }
    }
}
