package org.onnxfuse.fusion.group;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.onnxfuse.kernels.Backends;
import org.onnxfuse.kernels.ComputeBackend;

/**
 * One single-threaded CPU backend for all tests of a class, opened before the first and closed
 * after the last (the test classes run one after another, so they can share the field).
 */
abstract class WithCpuBackend {
    static ComputeBackend backend;

    @BeforeAll
    static void openBackend() {
        backend = Backends.open("cpu", 1);
    }

    @AfterAll
    static void closeBackend() {
        backend.close();
    }
}
