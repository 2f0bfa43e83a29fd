package org.onnxfuse.kernels;

import org.bytedeco.openblas.global.openblas;

/**
 * The process-wide side of OpenBLAS. Its thread count is global, so every call goes through
 * {@link #run(int, Runnable)}, which sets the caller's count and runs the call under one lock:
 * two backends with different counts never oversubscribe the cores (oversubscribed LAPACK was
 * measured 4-60x slower on 2 busy cores), and calls never interleave.
 */
final class OpenBlas {
    private static final Object LOCK = new Object();

    private OpenBlas() {
    }

    /**
     * Loads the native library (first use extracts it from the jar).
     *
     * @throws BackendUnavailableException when it does not load on this platform
     */
    static void load() {
        try {
            org.bytedeco.javacpp.Loader.load(openblas.class);
        } catch (LinkageError | RuntimeException e) {
            throw new BackendUnavailableException("the OpenBLAS native library (org.bytedeco:openblas, linux-x86_64)"
                    + " could not be loaded: " + e.getMessage() + "; the CPU backend needs Linux x86-64", e);
        }
    }

    static void run(int threads, Runnable call) {
        synchronized (LOCK) {
            // The preset's setter looks its symbol up on every call (~0.3 ms); its getter returns
            // the last value set through it, so only changes pay.
            if (openblas.blas_get_num_threads() != threads) {
                openblas.blas_set_num_threads(threads);
            }
            call.run();
        }
    }
}
