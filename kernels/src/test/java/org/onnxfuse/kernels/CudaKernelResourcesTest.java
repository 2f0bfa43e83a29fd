package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The native module's nvcc profile ran and its kernels reached the class path. */
class CudaKernelResourcesTest {

    @Test
    void kernelsAreOnTheClassPathWhenNvccBuiltThem() {
        assumeTrue(Files.isExecutable(Path.of("/usr/local/cuda/bin/nvcc")), "nvcc absent: the build skips PTX");
        assertNull(CudaKernels.firstMissing());
        assertEntries(CudaKernels.STATISTICS, "xty_f32_to_f64", "add_slices");
        assertEntries(CudaKernels.GEMM, "dgemm_tiled");
        assertEntries(CudaKernels.CHOLESKY, "chol_panel", "chol_trsm", "chol_batched");
    }

    @Test
    void kmeansAndOptimizerKernelsAreBuilt() {
        assumeTrue(Files.isExecutable(Path.of("/usr/local/cuda/bin/nvcc")), "nvcc absent: the build skips PTX");
        assertEntries(CudaKernels.KMEANS, CudaGramKMeans.KERNELS);
        assertEntries(CudaKernels.OPTIMIZER, "adam_step", "sgd_step");
        assertTrue(CudaKernels.describe().stream().anyMatch(line -> line.startsWith("optimizer: adam_step, sgd_step")),
                () -> String.valueOf(CudaKernels.describe()));
    }

    private static void assertEntries(String module, String... kernels) {
        List<CudaKernels.Image> images = CudaKernels.images(module);
        assertTrue(images.size() == 2, module + ": expected a fatbin and a PTX, found " + images);
        assertTrue(images.get(0).resource().endsWith(".fatbin"), images.get(0).resource());
        byte[] ptxBytes = images.get(1).bytes();
        assertTrue(ptxBytes[ptxBytes.length - 1] == 0, "PTX handed to the driver NUL-terminated");
        String ptx = new String(ptxBytes, 0, ptxBytes.length - 1, StandardCharsets.US_ASCII);
        assertTrue(ptx.contains(".target sm_90"), module + ".ptx targets compute_90");
        for (String kernel : kernels) {
            assertTrue(ptx.contains(".visible .entry " + kernel + "("), module + ".ptx lacks " + kernel);
        }
        assertFalse(images.get(0).bytes().length == 0, module + ".fatbin is empty");
    }
}
