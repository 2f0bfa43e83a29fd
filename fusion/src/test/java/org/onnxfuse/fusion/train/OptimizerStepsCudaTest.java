package org.onnxfuse.fusion.train;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.onnxfuse.kernels.Backends;
import org.onnxfuse.kernels.ComputeBackend;

/**
 * The trainer's Adam and SGD with their steps on the device (optimizer.cu) give the old Java loops'
 * bits: every variant of {@link OptimizerStepsTest}, 25 steps each. Runs only where CUDA works.
 */
@Tag("gpu")
class OptimizerStepsCudaTest {

    @Test
    void theCudaBackendsStepsComputeTheOldBits() {
        assumeTrue(Backends.cudaStatus().available(), () -> "no CUDA: " + Backends.cudaStatus().detail());
        try (ComputeBackend cuda = Backends.open("cuda", 0)) {
            OptimizerStepsTest.assertGolden(cuda);
        }
    }
}
