package org.onnxfuse.kernels;

import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * Opens the {@link ComputeBackend} for a {@code --device} choice:
 * <ul>
 *   <li>{@code cpu}: OpenBLAS.</li>
 *   <li>{@code cuda}: GPU 0, or a {@link BackendUnavailableException} that says why not.</li>
 *   <li>{@code auto}: CUDA when it works, else CPU with one line to the log saying why.</li>
 * </ul>
 * Whether CUDA works is found once per process by trying ({@link #cudaStatus()}).
 */
public final class Backends {
    public static final List<String> DEVICES = List.of("auto", "cpu", "cuda");

    private Backends() {
    }

    /** Threads used when none are given: the available processors. */
    public static int defaultThreads() {
        return Runtime.getRuntime().availableProcessors();
    }

    /** {@link #open(String, int, Consumer)} logging to standard error. */
    public static ComputeBackend open(String device, int threads) {
        return open(device, threads, System.err::println);
    }

    /**
     * @param device {@code auto}, {@code cpu} or {@code cuda} (case-insensitive)
     * @param threads host threads for BLAS and LAPACK; 0 means {@link #defaultThreads()}
     * @param log receives the one line {@code auto} writes when it falls back to the CPU
     * @throws BackendUnavailableException for {@code cuda} when CUDA cannot be used here
     * @throws IllegalArgumentException for an unknown device or a negative thread count
     */
    public static ComputeBackend open(String device, int threads, Consumer<String> log) {
        if (device == null || !DEVICES.contains(device.toLowerCase(Locale.ROOT))) {
            throw new IllegalArgumentException("unknown device '" + device + "', expected one of " + DEVICES);
        }
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = one per processor), found " + threads);
        }
        int hostThreads = threads == 0 ? defaultThreads() : threads;
        switch (device.toLowerCase(Locale.ROOT)) {
            case "cpu":
                return new CpuBackend(hostThreads);
            case "cuda": {
                CudaStatus status = cudaStatus();
                if (!status.available()) {
                    throw new BackendUnavailableException("--device cuda was requested but CUDA is not available: "
                            + status.detail() + ". Use --device cpu, or --device auto to fall back to the CPU");
                }
                return new CudaBackend(hostThreads, status);
            }
            default: {
                CudaStatus status = cudaStatus();
                String reason = status.detail();
                if (status.available()) {
                    try {
                        return new CudaBackend(hostThreads, status);
                    } catch (BackendUnavailableException e) {
                        reason = e.getMessage();
                    }
                }
                CpuBackend cpu = new CpuBackend(hostThreads);
                log.accept("onnx-fuse: using " + cpu.description() + "; CUDA unavailable: " + reason);
                return cpu;
            }
        }
    }

    /**
     * Does ahead of {@link #open} what opening a backend on {@code device} starts with (loading
     * OpenBLAS, about 0.5 s of dynamic linking and class loading; probing CUDA for {@code auto} and
     * {@code cuda}), so that a caller can overlap it with other work on another thread. Failures
     * are left for {@link #open} to report; the fused results do not depend on whether this ran.
     */
    public static void preload(String device) {
        String d = device == null ? "" : device.toLowerCase(Locale.ROOT);
        if (!d.equals("cpu")) {
            cudaStatus();
        }
        try {
            OpenBlas.load();
        } catch (BackendUnavailableException e) {
            // open() reports it when the CPU backend is asked for
        }
    }

    /** Whether the CUDA backend can run here, and the device or the reason; probed once. */
    public static CudaStatus cudaStatus() {
        return CudaProbe.status();
    }

    /** A short environment report for {@code --diagnose}: one line per backend. */
    public static String diagnose() {
        CudaStatus cuda = cudaStatus();
        return "cpu: OpenBLAS via JavaCPP (org.bytedeco:openblas), " + defaultThreads() + " processors available\n"
                + "cuda: " + (cuda.available() ? "available, " : "unavailable: ") + cuda.detail() + "\n"
                + "cuda kernels in this build: " + String.join("; ", CudaKernels.describe());
    }
}
