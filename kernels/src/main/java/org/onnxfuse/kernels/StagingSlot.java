package org.onnxfuse.kernels;

import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import jcuda.Pointer;
import jcuda.driver.CUevent;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * One stage of the statistics upload pipeline: pinned (page-locked) host buffers for a chunk of X
 * and A, their device copies, and two events, {@code uploaded} (the copies are on the device) and
 * {@code consumed} (the kernels that read them are done). While the kernels read one slot, the host
 * fills the other, and its asynchronous copy overlaps them. The caller holds the context; closing
 * waits for the slot's work first.
 */
final class StagingSlot implements AutoCloseable {
    private final int d;
    private final int m;
    private final int capacityRows;
    private final Pointer hostX = new Pointer();
    private final Pointer hostA = new Pointer();
    private final FloatBuffer stagedX;
    private final FloatBuffer stagedA;
    private final DeviceBuffer deviceX;
    private final DeviceBuffer deviceA;
    private final CUevent uploaded = new CUevent();
    private final CUevent consumed = new CUevent();
    private boolean hostXAllocated;
    private boolean hostAAllocated;
    private boolean eventsCreated;
    private boolean closed;

    StagingSlot(int d, int m, int capacityRows) {
        this.d = d;
        this.m = m;
        this.capacityRows = capacityRows;
        DeviceBuffer x = null;
        DeviceBuffer a = null;
        try {
            long xBytes = Math.max(8L, 4L * capacityRows * d);
            long aBytes = Math.max(8L, 4L * capacityRows * m);
            JCudaDriver.cuMemAllocHost(hostX, xBytes);
            hostXAllocated = true;
            JCudaDriver.cuMemAllocHost(hostA, aBytes);
            hostAAllocated = true;
            stagedX = hostX.getByteBuffer(0, xBytes).order(ByteOrder.nativeOrder()).asFloatBuffer();
            stagedA = hostA.getByteBuffer(0, aBytes).order(ByteOrder.nativeOrder()).asFloatBuffer();
            x = new DeviceBuffer(xBytes);
            a = new DeviceBuffer(aBytes);
            JCudaDriver.cuEventCreate(uploaded, 0);
            JCudaDriver.cuEventCreate(consumed, 0);
            eventsCreated = true;
        } catch (RuntimeException e) {
            DeviceBuffer.closeQuietly(x);
            DeviceBuffer.closeQuietly(a);
            freeHost();
            throw e;
        }
        this.deviceX = x;
        this.deviceA = a;
    }

    int capacityRows() {
        return capacityRows;
    }

    DeviceBuffer deviceX() {
        return deviceX;
    }

    DeviceBuffer deviceA() {
        return deviceA;
    }

    /** Blocks until the kernels that last read this slot are done (at once for a fresh slot). */
    void awaitConsumed() {
        if (eventsCreated) {
            JCudaDriver.cuEventSynchronize(consumed);
        }
    }

    /**
     * Copies rows [start, start + rows) of x and a into the pinned buffers, then queues their upload
     * on {@code uploads} and makes {@code compute} wait for it. Call {@link #awaitConsumed()} first.
     */
    void upload(float[] x, float[] a, int start, int rows, CUstream uploads, CUstream compute) {
        if (rows > capacityRows) {
            throw new IllegalArgumentException("a staging slot of " + capacityRows + " rows cannot take " + rows);
        }
        stagedX.clear();
        stagedX.put(x, start * d, rows * d);
        JCudaDriver.cuMemcpyHtoDAsync(deviceX.pointer(), hostX, 4L * rows * d, uploads);
        if (m > 0) {
            stagedA.clear();
            stagedA.put(a, start * m, rows * m);
            JCudaDriver.cuMemcpyHtoDAsync(deviceA.pointer(), hostA, 4L * rows * m, uploads);
        }
        JCudaDriver.cuEventRecord(uploaded, uploads);
        JCudaDriver.cuStreamWaitEvent(compute, uploaded, 0);
    }

    /** Marks the end of the kernels queued on {@code compute} that read this slot. */
    void markConsumed(CUstream compute) {
        JCudaDriver.cuEventRecord(consumed, compute);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            awaitConsumed();
        } finally {
            DeviceBuffer.closeQuietly(deviceX);
            DeviceBuffer.closeQuietly(deviceA);
            if (eventsCreated) {
                JCudaDriver.cuEventDestroy(uploaded);
                JCudaDriver.cuEventDestroy(consumed);
                eventsCreated = false;
            }
            freeHost();
        }
    }

    private void freeHost() {
        if (hostXAllocated) {
            hostXAllocated = false;
            JCudaDriver.cuMemFreeHost(hostX);
        }
        if (hostAAllocated) {
            hostAAllocated = false;
            JCudaDriver.cuMemFreeHost(hostA);
        }
    }
}
