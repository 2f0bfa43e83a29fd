package org.onnxfuse.kernels;

/**
 * Whether the CUDA backend can run here, found once per process by trying (the first JCuda call
 * throws UnsatisfiedLinkError without the NVIDIA driver). {@code detail} names the device when
 * available and says why not otherwise.
 */
public record CudaStatus(boolean available, String detail) {
}
