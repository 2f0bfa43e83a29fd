package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class BackendsTest {

    @Test
    void cpuIsAlwaysThere() {
        try (ComputeBackend b = Backends.open("CPU", 3)) {
            assertEquals("cpu", b.name());
            assertEquals(3, b.threads());
            assertTrue(b.description().contains("OpenBLAS") && b.description().contains("3 threads"), b.description());
        }
    }

    @Test
    void autoFallsBackToCpuWithOneLogLineWhenCudaIsMissing() {
        assumeFalse(Backends.cudaStatus().available(), "CUDA is available here");
        List<String> log = new ArrayList<>();
        try (ComputeBackend b = Backends.open("auto", 1, log::add)) {
            assertEquals("cpu", b.name());
        }
        assertEquals(1, log.size(), log.toString());
        assertTrue(log.get(0).startsWith("onnx-fuse: using cpu: OpenBLAS"), log.get(0));
        assertTrue(log.get(0).endsWith("; CUDA unavailable: " + Backends.cudaStatus().detail()), log.get(0));
    }

    @Test
    void explicitCudaWithoutCudaSaysWhy() {
        CudaStatus status = Backends.cudaStatus();
        assumeFalse(status.available(), "CUDA is available here");
        BackendUnavailableException e = assertThrows(BackendUnavailableException.class, () -> Backends.open("cuda", 1));
        assertTrue(e.getMessage().startsWith("--device cuda was requested but CUDA is not available: "), e.getMessage());
        assertTrue(e.getMessage().contains(status.detail()), e.getMessage());
        assertTrue(e.getMessage().contains("--device cpu"), e.getMessage());
        assertFalse(status.detail().contains("\n"), "one-line reason: " + status.detail());
    }

    @Test
    void probeRunsOnceAndNamesTheMissingPiece() {
        CudaStatus status = Backends.cudaStatus();
        assertSame(status, Backends.cudaStatus());
        if (!status.available()) {
            String why = status.detail();
            assertTrue(why.contains("libcuda.so.1") || why.contains("no GPU") || why.contains("CUDA driver")
                    || why.contains("native module was built without nvcc") || why.contains("compute capability"), why);
        }
        assertTrue(Backends.diagnose().startsWith("cpu: OpenBLAS"), Backends.diagnose());
        assertTrue(Backends.diagnose().contains("\ncuda: "), Backends.diagnose());
    }

    @Test
    void diagnoseListsTheKernelsOfThisBuild() {
        String report = Backends.diagnose();
        if (CudaKernels.firstMissing() == null) {
            assertTrue(report.contains("\ncuda kernels in this build: statistics: xty_f32_to_f64, add_slices, im2col_f32 (PTX"),
                    report);
            assertTrue(report.contains("gemm: dgemm_tiled"), report);
        } else {
            assertTrue(report.contains("statistics: not built"), report);
        }
    }

    @Test
    void unknownDeviceAndNegativeThreadsAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.open("tpu", 1));
        assertEquals("unknown device 'tpu', expected one of [auto, cpu, cuda]", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Backends.open(null, 1));
        assertThrows(IllegalArgumentException.class, () -> Backends.open("cpu", -1));
    }
}
