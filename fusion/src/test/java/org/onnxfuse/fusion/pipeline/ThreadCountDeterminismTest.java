package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.onnxfuse.fusion.importance.ImportanceMethod;
import org.onnxfuse.fusion.plan.ConstantFolding;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.ModelEdits;
import org.onnxfuse.fusion.testing.PaddedRows;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.Model;

/**
 * The same parents, data and seed give the same bytes whatever the thread count: the CPU backend
 * computes fixed blocks on single-threaded BLAS (kernels' BlockTasks), K-means runs in one thread,
 * and ONNX Runtime's CPU kernels give the same values with any intra-op thread count. Checked with
 * 1, 2 and 3 threads on a chain with K-means (4 parents), a residual DAG pair with the default
 * DeepLIFT importance, and the gradient variant (training in ONNX Runtime), also on attention blocks
 * whose segments read another token stream or an int64 mask; the same seed run twice on one thread
 * gives the same bytes too.
 */
class ThreadCountDeterminismTest {
    @TempDir
    Path dir;

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

    @ParameterizedTest
    @CsvSource({"mha/cross_op17.onnx, 4, '3, 4, 5, 6'", "mha/int64_attention_mask_op17.onnx, 3, '2, 3, 4, 5'"})
    void anAttentionBlockReadingAnotherStreamOrAMaskTrainsToTheSameBytes(String file, int keys, String block) {
        // kf-gradient trains the attention block as one segment fed what it reads besides its input (the keys' and
        // values' stream; the int64 attention_mask, from an .npz): parent 1 is parent 0 permuted with its keys
        // doubled, so the block trains its epochs
        Model p0 = ConstantFolding.fold(Fixtures.read(file));
        List<Model> parents = List.of(p0, ModelEdits.scaledWeight(ModelEdits.permuted(p0, 47), keys, 2f));
        Path data = file.contains("mask")
                ? PaddedRows.int64Mask(dir.resolve("calib.npz"), "attention_mask", 200, 300, 0, true)
                : Fixtures.data("calib400_x.npy");
        FusionResult first = fuse(parents, "kf-gradient", data, 1);
        TrainedBlocks.require(first, block);
        byte[] one = OnnxWriter.toBytes(first.model());
        for (int threads : new int[] {1, 2, 3}) {
            assertArrayEquals(one, OnnxWriter.toBytes(fuse(parents, "kf-gradient", data, threads).model()),
                    file + ": 1 vs " + threads + " threads");
        }
    }

    private static Model fuse(List<Model> parents, String method, int threads) {
        return fuse(parents, method, Fixtures.data("calib400_x.npy"), threads).model();
    }

    private static FusionResult fuse(List<Model> parents, String method, Path calibration, int threads) {
        FusionMethod chosen = FusionMethod.fromName(method);
        Fusion.Builder builder = Fusion.builder().parentModels(parents).calibration(calibration)
                .samples(300).method(chosen).device("cpu").threads(threads).seed(3).restarts(2).log(s -> { });
        if (calibration.getFileName().toString().endsWith(".npz")) {
            // DeepLIFT starts from one float input
            builder.importance(ImportanceMethod.UNIFORM);
        }
        if (chosen.trains()) {
            builder.epochs(3);
        }
        return builder.build().fuse();
    }
}
