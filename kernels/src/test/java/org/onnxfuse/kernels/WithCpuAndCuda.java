package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;

/**
 * A CPU and a CUDA backend for the GPU tests of a class, opened before the first test where CUDA
 * works and closed after the last (the test classes run one after another, so they can share the
 * fields); every test is skipped where CUDA does not work.
 */
abstract class WithCpuAndCuda {
    static ComputeBackend cpu;
    static ComputeBackend cuda;

    @BeforeAll
    static void open() {
        if (Backends.cudaStatus().available()) {
            cpu = Backends.open("cpu", 0);
            cuda = Backends.open("cuda", 0);
        }
    }

    /** Per test rather than per class, so the report counts each skipped test. */
    @BeforeEach
    void needsCuda() {
        assumeTrue(Backends.cudaStatus().available(), () -> "no CUDA: " + Backends.cudaStatus().detail());
    }

    @AfterAll
    static void close() {
        if (cuda != null) {
            cuda.close();
            cuda = null;
        }
        if (cpu != null) {
            cpu.close();
            cpu = null;
        }
    }
}
