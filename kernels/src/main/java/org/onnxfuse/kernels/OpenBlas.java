package org.onnxfuse.kernels;

import org.bytedeco.openblas.global.openblas;

/**
 * The process-wide side of OpenBLAS. Its thread count is global; this project always runs it with
 * one thread per call and parallelises over fixed blocks itself ({@link BlockTasks}), which makes
 * results independent of the thread count and lets calls from several threads run side by side.
 */
final class OpenBlas {
    private static volatile boolean oneThread;

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

    /** Makes every OpenBLAS call single-threaded (once per process; the setter looks its symbol up each time). */
    static void useOneThreadPerCall() {
        if (!oneThread) {
            synchronized (OpenBlas.class) {
                if (!oneThread) {
                    openblas.blas_set_num_threads(1);
                    oneThread = true;
                }
            }
        }
    }
}
