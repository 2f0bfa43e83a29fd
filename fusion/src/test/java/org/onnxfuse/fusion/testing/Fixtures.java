package org.onnxfuse.fusion.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.fusion.evaluate.BatchOutputs;
import org.onnxfuse.fusion.evaluate.ModelEvaluator;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.ir.Model;

/**
 * The committed fixtures under {@code test-models/} (system property {@code onnxfuse.testModels},
 * set by surefire), and reference evaluation of models on them in ONNX Runtime. Files are named
 * with their extension ({@code "mlp_k2_p0.onnx"}, {@code "test_x.npy"}). A missing property or
 * fixture fails the test with an {@link AssertionError} naming the path: it never skips.
 */
public final class Fixtures {
    /** Threads for test sessions: the dev machines have 2 cores. */
    public static final int THREADS = 2;
    public static final int BATCH = 500;

    private Fixtures() {
    }

    /** The fixture root, {@code test-models/}. */
    public static Path root() {
        String root = System.getProperty("onnxfuse.testModels");
        if (root == null || root.isEmpty() || root.contains("${")) {
            throw new AssertionError("system property onnxfuse.testModels is not set (surefire sets it), found: "
                    + root);
        }
        Path p = Path.of(root);
        if (!Files.isDirectory(p)) {
            throw new AssertionError("fixture root " + p.toAbsolutePath() + " (onnxfuse.testModels) is missing");
        }
        return p;
    }

    private static Path existing(Path p) {
        if (!Files.isRegularFile(p)) {
            throw new AssertionError("fixture " + p.toAbsolutePath() + " is missing; see test-models/README.md");
        }
        return p;
    }

    /** The model file {@code test-models/models/<file>}, e.g. {@code "mlp_k2_p0.onnx"}. */
    public static Path model(String file) {
        return existing(root().resolve("models").resolve(file));
    }

    /** The fixture model {@code file}, read. */
    public static Model read(String file) {
        return OnnxReader.read(model(file));
    }

    /** The data file {@code test-models/data/<file>}, e.g. {@code "test_x.npy"}. */
    public static Path data(String file) {
        return existing(root().resolve("data").resolve(file));
    }

    /** The data file {@code file} opened as an array; close it. */
    public static NpyArray array(String file) {
        return NpyArray.open(data(file));
    }

    /** models/accuracies.json, written by the fixture generator. */
    public static JsonNode accuracies() {
        try {
            return new ObjectMapper().readTree(existing(root().resolve("models").resolve("accuracies.json")).toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The first output of {@code model} on all of {@code data}, concatenated ([N, classes] row-major). */
    public static float[] logits(Model model, SampleArray data) {
        try (ModelEvaluator e = ModelEvaluator.open(model, THREADS)) {
            return concatenated(e.run(data, BATCH), data.samples());
        }
    }

    /** The batches' first outputs, one after another, for {@code samples} samples in all. */
    private static float[] concatenated(Iterable<BatchOutputs> batches, long samples) {
        float[] all = null;
        int at = 0;
        for (BatchOutputs out : batches) {
            float[] v = out.first().values();
            if (all == null) {
                all = new float[Math.toIntExact(v.length / out.count() * samples)];
            }
            System.arraycopy(v, 0, all, at, v.length);
            at += v.length;
        }
        return all;
    }

    /**
     * The first output of {@code model} on all samples of the .npy file {@code x}, or of the .npz
     * file {@code x} holding one array per model input (fed by input name).
     */
    public static float[] logits(Model model, Path x) {
        if (x.getFileName().toString().endsWith(".npz")) {
            org.onnxfuse.fusion.plan.LevelPlan plan = org.onnxfuse.fusion.plan.LevelPlanner.plan(
                    org.onnxfuse.fusion.plan.ConstantFolding.fold(model));
            try (org.onnxfuse.fusion.collect.CalibrationData data =
                         org.onnxfuse.fusion.collect.CalibrationData.open(x, plan);
                 ModelEvaluator e = ModelEvaluator.open(model, THREADS)) {
                return concatenated(e.run(data, BATCH), data.samples());
            }
        }
        try (NpyArray data = NpyArray.open(x)) {
            return logits(model, data);
        }
    }

    /** The first {@code count} labels of the int64 .npy file {@code y}. */
    public static long[] labels(Path y, int count) {
        try (NpyArray a = NpyArray.open(y)) {
            return a.readLongs(0, count);
        }
    }

    /** The fraction of rows of {@code logits} ([N, classes]) whose arg max is the label. */
    public static double accuracy(float[] logits, long[] labels) {
        int classes = logits.length / labels.length;
        int correct = 0;
        for (int n = 0; n < labels.length; n++) {
            int best = 0;
            for (int c = 1; c < classes; c++) {
                if (logits[n * classes + c] > logits[n * classes + best]) {
                    best = c;
                }
            }
            if (best == labels[n]) {
                correct++;
            }
        }
        return correct / (double) labels.length;
    }

    /** Accuracy of {@code model} on the test set. */
    public static double testAccuracy(Model model) {
        float[] z = logits(model, data("test_x.npy"));
        return accuracy(z, testLabels());
    }

    private static long[] testLabels() {
        try (NpyArray x = array("test_x.npy")) {
            return labels(data("test_y.npy"), Math.toIntExact(x.samples()));
        }
    }

    /** Accuracy of the ensemble (mean of the parents' softmax outputs) on the test set. */
    public static double ensembleTestAccuracy(List<Model> parents) {
        long[] y = testLabels();
        double[] mean = null;
        for (Model m : parents) {
            float[] z = logits(m, data("test_x.npy"));
            if (mean == null) {
                mean = new double[z.length];
            }
            int classes = z.length / y.length;
            for (int n = 0; n < y.length; n++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int c = 0; c < classes; c++) {
                    max = Math.max(max, z[n * classes + c]);
                }
                double sum = 0;
                for (int c = 0; c < classes; c++) {
                    sum += Math.exp(z[n * classes + c] - max);
                }
                for (int c = 0; c < classes; c++) {
                    mean[n * classes + c] += Math.exp(z[n * classes + c] - max) / sum / parents.size();
                }
            }
        }
        float[] p = new float[mean.length];
        for (int i = 0; i < p.length; i++) {
            p[i] = (float) mean[i];
        }
        return accuracy(p, y);
    }

    public static double maxAbsDifference(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError(a.length + " values vs " + b.length);
        }
        double d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs(a[i] - b[i]));
        }
        return d;
    }

    /** Input and output names and declared types, for comparing a fused model's interface with its parents'. */
    public static Map<String, String> interfaceOf(Model m) {
        Map<String, String> out = new LinkedHashMap<>();
        m.graph().feedInputs().forEach(v -> out.put("in:" + v.name(), String.valueOf(v.tensorType())));
        m.graph().outputs().forEach(v -> out.put("out:" + v.name(), String.valueOf(v.tensorType())));
        return out;
    }

    /**
     * {@code parents} fused by {@code method} on the first {@code samples} MNIST calibration
     * images (CPU, 2 threads, seed 1, 2 restarts, log discarded; neuron interpolation with DeepLIFT
     * importance, so that its gradient rules run on every op of the test models): the small
     * fusions the planner's tests check functions with.
     */
    public static org.onnxfuse.fusion.pipeline.FusionResult fuse(List<Model> parents,
                                                                org.onnxfuse.fusion.pipeline.FusionMethod method,
                                                                long samples) {
        return fuse(parents, method, samples, data("calib400_x.npy"));
    }

    /**
     * {@link #fuse} calibrated on {@code calibration} (a .npz for a model of several inputs, fused with
     * uniform importance: DeepLIFT starts from one float input).
     */
    public static org.onnxfuse.fusion.pipeline.FusionResult fuse(List<Model> parents,
                                                                org.onnxfuse.fusion.pipeline.FusionMethod method,
                                                                long samples, Path calibration) {
        org.onnxfuse.fusion.pipeline.Fusion.Builder b = org.onnxfuse.fusion.pipeline.Fusion.builder()
                .parentModels(parents).calibration(calibration).samples(samples).method(method)
                .device("cpu").threads(THREADS).seed(1).restarts(2).log(s -> { });
        if (method.isInterpolation()) {
            // DeepLIFT starts from one float input: a model of several inputs is fused with uniform importance
            b.importance(calibration.getFileName().toString().endsWith(".npz")
                    ? org.onnxfuse.fusion.importance.ImportanceMethod.UNIFORM
                    : org.onnxfuse.fusion.importance.ImportanceMethod.DEEPLIFT);
        }
        return b.build().fuse();
    }

    /**
     * The largest logit difference on the test images between {@code model} and what
     * {@link #fuse} makes of it and its copy with the neurons of every space permuted
     * ({@code ModelEdits.permuted(model, seed)}, checked first to compute the same function),
     * relative to max(1, the largest logit): 0 up to rounding when the method reproduces a parent
     * from a permuted copy of itself. Fails when DeepLIFT could not run on the model (its gradient
     * rules are part of what these checks cover).
     */
    /**
     * {@link #permutedCopyDifference} for each of {@code methods}: below 1e-3 for a method that
     * trains, below 1e-4 for the others, and above 1e-2 for {@code average}, which aligns nothing.
     */
    public static void requirePermutedCopyBack(Model model, long seed, long samples,
                                               org.onnxfuse.fusion.pipeline.FusionMethod... methods) {
        requirePermutedCopyBack(model, seed, samples, data("calib400_x.npy"), data("test_x.npy"), methods);
    }

    /** {@link #requirePermutedCopyBack} calibrated on {@code calibration} and compared on {@code test} (.npy or .npz). */
    public static void requirePermutedCopyBack(Model model, long seed, long samples, Path calibration, Path test,
                                               org.onnxfuse.fusion.pipeline.FusionMethod... methods) {
        for (org.onnxfuse.fusion.pipeline.FusionMethod method : methods) {
            double diff = permutedCopyDifference(model, method, seed, samples, calibration, test);
            if (method == org.onnxfuse.fusion.pipeline.FusionMethod.AVERAGE) {
                if (!(diff > 1e-2)) {
                    throw new AssertionError("averaging a permuted copy unaligned should change the function: " + diff);
                }
            } else if (!(diff < (method.trains() ? 1e-3 : 1e-4))) {
                throw new AssertionError(method + ": the permuted copy comes back to " + diff);
            }
        }
    }

    public static double permutedCopyDifference(Model model, org.onnxfuse.fusion.pipeline.FusionMethod method,
                                                long seed, long samples) {
        return permutedCopyDifference(model, method, seed, samples, data("calib400_x.npy"), data("test_x.npy"));
    }

    /** {@link #permutedCopyDifference} calibrated on {@code calibration} and compared on {@code test} (.npy or .npz). */
    public static double permutedCopyDifference(Model model, org.onnxfuse.fusion.pipeline.FusionMethod method,
                                                long seed, long samples, Path calibration, Path test) {
        return permutedCopyFusion(model, method, seed, samples, calibration, test).difference();
    }

    /** A fusion of a model with its permuted copy and the largest relative logit difference it leaves. */
    public record PermutedCopy(org.onnxfuse.fusion.pipeline.FusionResult result, double difference) {
    }

    /**
     * {@link #permutedCopyDifference} with the fusion's result, for a test that also reads how the
     * levels were fused (which blocks trained as segments).
     */
    public static PermutedCopy permutedCopyFusion(Model model, org.onnxfuse.fusion.pipeline.FusionMethod method,
                                                  long seed, long samples, Path calibration, Path test) {
        Model copy = ModelEdits.permuted(model, seed);
        float[] expected = logits(model, test);
        double scale = Math.max(1, maxAbsDifference(expected, new float[expected.length]));
        double copyDiff = maxAbsDifference(expected, logits(copy, test)) / scale;
        if (copyDiff > 1e-5) {
            throw new AssertionError("the permuted copy differs from the model by " + copyDiff);
        }
        org.onnxfuse.fusion.pipeline.FusionResult result = fuse(List.of(model, copy), method, samples, calibration);
        if (result.warnings().stream().anyMatch(w -> w.contains("uniform importance"))) {
            throw new AssertionError("DeepLIFT did not run on the test model: " + result.warnings());
        }
        double diff = maxAbsDifference(expected, logits(result.model(), test)) / scale;
        System.out.println(method + ": max abs logit difference " + diff + " relative to max(1, logits up to "
                + scale + ")");
        return new PermutedCopy(result, diff);
    }
}
