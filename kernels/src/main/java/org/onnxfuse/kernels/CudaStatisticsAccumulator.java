package org.onnxfuse.kernels;

import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * The sums live in device memory; each batch is copied up as float32 (half the bytes of float64)
 * and widened inside the kernel (statistics.cu), which computes exact float32 x float32 products
 * and sums them in float64, as the CPU backend does. Locks its backend for every call.
 *
 * <p>Batches of rows go through a two-slot pipeline ({@link StagingSlot}): the host copies a chunk
 * into pinned memory and queues its upload on one stream while the kernels of the previous chunk
 * run on another, so {@link #accumulate} returns before the arithmetic is done; reading, resetting
 * and closing wait for it. Convolution batches ({@link #accumulateGathered}) wait for the pipeline
 * and run synchronously.
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
    private final StagingSlot[] slots = new StagingSlot[2];
    private int nextSlot;
    private CUstream uploads;
    private CUstream compute;

    CudaStatisticsAccumulator(CudaBackend backend, int d, int m, boolean targetGram) {
        super(d, m, targetGram);
        this.backend = backend;
        this.maxChunkRows = Math.max(1, BUFFER_ELEMENTS / Math.max(d, m));
        DeviceBuffer[] sums = new DeviceBuffer[3];
        try {
            sums[0] = new DeviceBuffer(8L * d * d);
            sums[1] = new DeviceBuffer(8L * d * m);
            sums[2] = new DeviceBuffer(targetGram ? 8L * m * m : 8L);
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
                if (compute == null) {
                    CUstream u = new CUstream();
                    CUstream c = new CUstream();
                    JCudaDriver.cuStreamCreate(u, 0);
                    uploads = u;
                    JCudaDriver.cuStreamCreate(c, 0);
                    compute = c;
                }
                for (int start = 0; start < batchRows; start += maxChunkRows) {
                    int rows = Math.min(maxChunkRows, batchRows - start);
                    StagingSlot slot = slot(nextSlot, rows);
                    nextSlot = 1 - nextSlot;
                    slot.upload(x, a, start, rows, uploads, compute);
                    accumulate(slot.deviceX(), slot.deviceA(), rows, compute);
                    slot.markConsumed(compute);
                }
            } catch (CudaException e) {
                throw backend.failure("statistics update (d = " + d + ", m = " + m + ", " + batchRows + " rows)", e);
            }
        }
    }

    /** Slot {@code index}, once its last chunk's kernels are done, able to hold {@code rows} rows. */
    private StagingSlot slot(int index, int rows) {
        StagingSlot slot = slots[index];
        if (slot != null) {
            slot.awaitConsumed();
            if (slot.capacityRows() >= rows) {
                return slot;
            }
            slots[index] = null;
            slot.close();
        }
        int capacity = Math.min(maxChunkRows, Math.max(rows, slot == null ? 0 : 2 * slot.capacityRows()));
        slots[index] = new StagingSlot(d, m, capacity);
        return slots[index];
    }

    /** Waits for every queued chunk; a kernel's failure surfaces here. */
    private void drain() {
        if (compute != null) {
            JCudaDriver.cuStreamSynchronize(uploads);
            JCudaDriver.cuStreamSynchronize(compute);
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
                drain();
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
     * Copies {@code rows} rows of x and a to the synchronous path's device buffers, for
     * {@link #accumulateStaged}: the device benchmark times the kernels alone this way.
     */
    void stage(float[] x, float[] a, int rows) {
        synchronized (backend) {
            backend.requireOpen();
            backend.makeCurrent();
            drain();
            ensureBuffers(rows);
            xBuffer.copyFrom(x, 0, rows * d);
            aBuffer.copyFrom(a, 0, rows * m);
        }
    }

    /**
     * Adds the first {@code rows} samples already on the device (staged by {@link #add}) to the sums.
     * Package-private so that the device benchmark can time the kernels without the upload.
     */
    void accumulateStaged(int rows) {
        drain();
        accumulate(xBuffer, aBuffer, rows, null);
        JCudaDriver.cuCtxSynchronize();
    }

    /** Queues S_xx += X^T X, S_xa += X^T A, S_aa += A^T A for {@code rows} rows on {@code stream}. */
    private void accumulate(DeviceBuffer x, DeviceBuffer a, int rows, CUstream stream) {
        xty(x, x, rows, d, d, true, sxx, stream);
        if (m > 0) {
            xty(x, a, rows, d, m, false, sxa, stream);
            if (targetGram) {
                xty(a, a, rows, m, m, true, saa, stream);
            }
        }
    }

    /** Queues out (rows x cols, column-major, ld = rows) += left^T right over {@code samples} samples. */
    private void xty(DeviceBuffer left, DeviceBuffer right, int samples, int rowsOut, int colsOut, boolean symmetric,
                     DeviceBuffer out, CUstream stream) {
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
        backend.launchOn(stream, backend.xtyKernel, CudaBackend.ceilDiv(colsOut, SlicePlan.TILE),
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
            backend.launchOn(stream, backend.addSlicesKernel, blocks, 1, 1, sum);
        }
    }

    private DeviceBuffer workspace(long bytes) {
        if (workspace == null || workspace.bytes() < bytes) {
            drain(); // queued kernels may still use the old workspace
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
                drain();
                sxx.copyTo(xx);
                sxa.copyTo(xa);
                if (targetGram) {
                    saa.copyTo(aa);
                }
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
                drain();
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
            try {
                drain();
            } catch (CudaException e) {
                // a failed kernel: free what we can; the error was or will be reported by its caller
            }
            for (int i = 0; i < slots.length; i++) {
                if (slots[i] != null) {
                    try {
                        slots[i].close();
                    } catch (CudaException e) {
                        // freeing failed while closing: nothing better to do
                    }
                    slots[i] = null;
                }
            }
            if (compute != null) {
                JCudaDriver.cuStreamDestroy(uploads);
                JCudaDriver.cuStreamDestroy(compute);
                uploads = null;
                compute = null;
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
