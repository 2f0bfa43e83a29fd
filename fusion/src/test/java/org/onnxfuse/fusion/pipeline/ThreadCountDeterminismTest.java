package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.Model;

/**
 * The same parents, data and seed give the same bytes whatever the thread count: the CPU backend
 * computes fixed blocks on single-threaded BLAS (kernels' BlockTasks), K-means runs in one thread,
 * and ONNX Runtime's CPU kernels give the same values with any intra-op thread count. Checked with
 * 1, 2 and 3 threads on a chain with K-means (4 parents), a residual DAG pair with the default
 * DeepLIFT importance, and the gradient variant (training in ONNX Runtime).
 */
class ThreadCountDeterminismTest {

    @ParameterizedTest
    @CsvSource({"kf-linear, mlp_k4_p0.onnx mlp_k4_p1.onnx mlp_k4_p2.onnx mlp_k4_p3.onnx",
            "kf-linear, dag/resnet_p0.onnx dag/resnet_p1.onnx",
            "kf-gradient, vgg_p0.onnx vgg_p1.onnx"})
    void sameBytesWithOneTwoAndThreeThreads(String method, String files) {
        List<Model> parents = Arrays.stream(files.split(" ")).map(Fixtures::read).toList();
        byte[] one = OnnxWriter.toBytes(fuse(parents, method, 1));
        for (int threads : new int[] {2, 3}) {
            assertArrayEquals(one, OnnxWriter.toBytes(fuse(parents, method, threads)), method + " " + files + ": 1 vs "
                    + threads + " threads");
        }
    }

    private static Model fuse(List<Model> parents, String method, int threads) {
        FusionMethod chosen = FusionMethod.fromName(method);
        Fusion.Builder builder = Fusion.builder().parentModels(parents).calibration(Fixtures.data("calib400_x.npy"))
                .samples(300).method(chosen).device("cpu").threads(threads).seed(3).restarts(2).log(s -> { });
        if (chosen.trains()) {
            builder.epochs(3);
        }
        return builder.build().fuse().model();
    }
}
