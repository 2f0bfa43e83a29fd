package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.kernels.Backends;
import org.onnxfuse.onnx.ir.Model;

/**
 * End to end on both backends: the fused model from {@code --device cuda} (statistics, Conv
 * unfolding, solves and grouping on the GPU) scores what the CPU backend's does on the test data,
 * and its logits agree closely. Runs only where CUDA works ({@code -Dgroups=gpu}).
 */
@Tag("gpu")
class CudaFusionTest {

    @BeforeEach
    void needsCuda() {
        assumeTrue(Backends.cudaStatus().available(), () -> "no CUDA: " + Backends.cudaStatus().detail());
    }

    /** Fixture pairs: Gemm MLP, Conv chain (gathered on the device), DAG pair with depthwise convolutions. */
    @ParameterizedTest
    @CsvSource({"mlp_k2_p0.onnx, mlp_k2_p1.onnx", "vgg_p0.onnx, vgg_p1.onnx",
            "dag/mbv2_p0.onnx, dag/mbv2_p1.onnx", "dag/resnet_p0.onnx, dag/resnet_p1.onnx"})
    void cudaFusesAsTheCpuDoes(String first, String second) {
        List<Model> parents = List.of(Fixtures.read(first), Fixtures.read(second));
        Model onCpu = fuse(parents, "cpu");
        Model onCuda = fuse(parents, "cuda");
        double cpuAccuracy = Fixtures.testAccuracy(onCpu);
        double cudaAccuracy = Fixtures.testAccuracy(onCuda);
        float[] cpuLogits = Fixtures.logits(onCpu, Fixtures.data("test_x.npy"));
        float[] cudaLogits = Fixtures.logits(onCuda, Fixtures.data("test_x.npy"));
        double scale = Fixtures.maxAbsDifference(cpuLogits, new float[cpuLogits.length]);
        double difference = Fixtures.maxAbsDifference(cpuLogits, cudaLogits);
        System.out.printf("%s + %s: accuracy cpu %.4f cuda %.4f, max logit difference %.3g of %.3g%n", first, second,
                cpuAccuracy, cudaAccuracy, difference, scale);
        // float64 statistics summed in another order: the fits differ by rounding, far below one
        // test sample's worth of accuracy (1 / 1500)
        assertEquals(cpuAccuracy, cudaAccuracy, 1.5 / 1500, "test accuracy cpu vs cuda");
        assertTrue(difference < 1e-3 * Math.max(1.0, scale), "max logit difference " + difference + " of " + scale);
    }

    private static Model fuse(List<Model> parents, String device) {
        return Fusion.builder().parentModels(parents).calibration(Fixtures.data("calib400_x.npy")).samples(400)
                .method(FusionMethod.KF_LINEAR).device(device).threads(Fixtures.THREADS).batchSize(200).seed(1)
                .log(line -> { }).build().fuse().model();
    }
}
