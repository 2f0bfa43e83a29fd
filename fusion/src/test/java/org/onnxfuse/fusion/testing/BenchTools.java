package org.onnxfuse.fusion.testing;

import java.nio.file.Path;
import java.util.Locale;
import org.onnxfuse.fusion.plan.ConstantFolding;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.Model;

/**
 * Command-line helpers for the benchmarks that need the test utilities (bench/torchvision):
 * <pre>
 * java -cp fusion/target/onnx-fuse.jar:fusion/target/test-classes org.onnxfuse.fusion.testing.BenchTools \
 *     permute in.onnx out.onnx SEED      # the same function, every neuron space permuted
 *     compare a.onnx b.onnx data.npy     # max abs difference of the first outputs
 * </pre>
 */
public final class BenchTools {
    private BenchTools() {
    }

    public static void main(String[] args) {
        switch (args.length > 0 ? args[0] : "") {
            case "permute" -> {
                Model model = ConstantFolding.fold(OnnxReader.read(Path.of(args[1])));
                OnnxWriter.write(ModelEdits.permuted(model, Long.parseLong(args[3])), Path.of(args[2]));
            }
            case "compare" -> {
                Path data = Path.of(args[3]);
                float[] a = Fixtures.logits(OnnxReader.read(Path.of(args[1])), data);
                float[] b = Fixtures.logits(OnnxReader.read(Path.of(args[2])), data);
                double scale = 0;
                for (float v : a) {
                    scale = Math.max(scale, Math.abs(v));
                }
                System.out.printf(Locale.ROOT, "max_abs_difference %.3e max_abs_output %.3e%n",
                        Fixtures.maxAbsDifference(a, b), scale);
            }
            default -> {
                System.err.println("usage: BenchTools permute IN OUT SEED | compare A B DATA.npy");
                System.exit(2);
            }
        }
    }
}
