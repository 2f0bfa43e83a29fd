package example;

import java.nio.file.Path;
import org.onnxfuse.fusion.pipeline.Fusion;
import org.onnxfuse.fusion.pipeline.FusionResult;
import org.onnxfuse.fusion.pipeline.LevelReport;
import org.onnxfuse.onnx.io.OnnxWriter;

/**
 * Fuses two models with the library API and writes the result:
 * {@code FuseTwoModels [a.onnx b.onnx calib.npy out.onnx]} (defaults: the bundled MNIST MLP pair).
 */
public final class FuseTwoModels {
    public static void main(String[] args) {
        Path root = Path.of(System.getProperty("onnxfuse.root", "../.."));
        Path a = Path.of(args.length > 0 ? args[0] : root.resolve("test-models/models/mlp_k2_p0.onnx").toString());
        Path b = Path.of(args.length > 1 ? args[1] : root.resolve("test-models/models/mlp_k2_p1.onnx").toString());
        Path data = Path.of(args.length > 2 ? args[2] : root.resolve("test-models/data/calib400_x.npy").toString());
        Path out = Path.of(args.length > 3 ? args[3] : "target/fused.onnx");
        FusionResult result = Fusion.builder().parents(a, b).calibration(data).device("cpu").build().fuse();
        for (LevelReport level : result.levels()) {
            System.out.printf("level %d %s: width %d, fit error %.4f%n", level.level(), level.opType(), level.width(),
                    level.relativeResidual());
        }
        OnnxWriter.write(result.model(), out);
        System.out.println("wrote " + out);
    }
}
