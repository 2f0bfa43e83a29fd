package org.onnxfuse.kernels;

import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;

/** One cuMemAlloc'd block of device memory; freed by {@link #close()}. Caller sets the context. */
final class DeviceBuffer implements AutoCloseable {
    private final CUdeviceptr pointer = new CUdeviceptr();
    private final long bytes;
    private boolean freed;

    DeviceBuffer(long bytes) {
        this.bytes = bytes;
        // A zero-byte cuMemAlloc is an error; a word keeps empty operands valid pointers.
        JCudaDriver.cuMemAlloc(pointer, Math.max(8L, bytes));
    }

    static DeviceBuffer upload(double[] data) {
        DeviceBuffer buffer = new DeviceBuffer(8L * data.length);
        if (data.length > 0) {
            JCudaDriver.cuMemcpyHtoD(buffer.pointer, Pointer.to(data), 8L * data.length);
        }
        return buffer;
    }

    static DeviceBuffer upload(int[] data) {
        DeviceBuffer buffer = new DeviceBuffer(4L * data.length);
        if (data.length > 0) {
            JCudaDriver.cuMemcpyHtoD(buffer.pointer, Pointer.to(data), 4L * data.length);
        }
        return buffer;
    }

    static DeviceBuffer upload(float[] data) {
        DeviceBuffer buffer = new DeviceBuffer(4L * data.length);
        buffer.copyFrom(data, 0, data.length);
        return buffer;
    }

    CUdeviceptr pointer() {
        return pointer;
    }

    long bytes() {
        return bytes;
    }

    void zero() {
        JCudaDriver.cuMemsetD8(pointer, (byte) 0, Math.max(8L, bytes));
    }

    void copyFrom(float[] host, int offset, int count) {
        if (count > 0) {
            JCudaDriver.cuMemcpyHtoD(pointer, Pointer.to(host).withByteOffset(4L * offset), 4L * count);
        }
    }

    void copyTo(double[] host) {
        if (host.length > 0) {
            JCudaDriver.cuMemcpyDtoH(Pointer.to(host), pointer, 8L * host.length);
        }
    }

    void copyTo(float[] host) {
        if (host.length > 0) {
            JCudaDriver.cuMemcpyDtoH(Pointer.to(host), pointer, 4L * host.length);
        }
    }

    void copyTo(int[] host) {
        if (host.length > 0) {
            JCudaDriver.cuMemcpyDtoH(Pointer.to(host), pointer, 4L * host.length);
        }
    }

    /** Frees {@code buffer} unless null, ignoring a failure (for use while closing). */
    static void closeQuietly(DeviceBuffer buffer) {
        if (buffer != null) {
            try {
                buffer.close();
            } catch (CudaException e) {
                // freeing failed: nothing better to do while closing
            }
        }
    }

    @Override
    public void close() {
        if (!freed) {
            freed = true;
            JCudaDriver.cuMemFree(pointer);
        }
    }
}
