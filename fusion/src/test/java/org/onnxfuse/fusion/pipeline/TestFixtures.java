package org.onnxfuse.fusion.pipeline;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.onnxfuse.fusion.collect.CalibrationData;
import org.onnxfuse.fusion.collect.OrtRunner;
import org.onnxfuse.fusion.data.FloatBatch;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.ops.AffineWeights;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.LevelWeights;
import org.onnxfuse.fusion.solve.LevelWriter;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Tensor;

/** Fixture models and data, model evaluation in ONNX Runtime, and reference model edits for the tests. */
public final class TestFixtures {
    private TestFixtures() {
    }

    public static Path root() {
        String p = System.getProperty("onnxfuse.testModels");
        return Path.of(p != null ? p : "../test-models");
    }

    public static Path model(String name) {
        return root().resolve("models").resolve(name + ".onnx");
    }

    public static Path data(String name) {
        return root().resolve("data").resolve(name + ".npy");
    }

    public static Model read(String name) {
        return OnnxReader.read(model(name));
    }

    /** The model's output (all of it, [N, classes] row-major) on the first {@code limit} samples of {@code x}. */
    public static float[] logits(Model model, Path x, long limit) {
        String out = model.graph().outputs().get(0).name();
        List<float[]> parts = new ArrayList<>();
        int total = 0;
        try (CalibrationData data = CalibrationData.open(x).limit(limit);
             OrtRunner runner = OrtRunner.open("model", model, List.of(), 1)) {
            for (FloatBatch b : data.batches(500)) {
                float[] v = runner.run(b, List.of(out)).get(out).values();
                parts.add(v);
                total += v.length;
            }
        }
        float[] all = new float[total];
        int o = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, all, o, p.length);
            o += p.length;
        }
        return all;
    }

    public static long[] labels(Path y, int count) {
        try (NpyArray a = NpyArray.open(y)) {
            return a.readLongs(0, count);
        }
    }

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

    public static double testAccuracy(Model model) {
        long[] y = labels(data("test_y"), (int) samples(data("test_x")));
        return accuracy(logits(model, data("test_x"), 0), y);
    }

    public static long samples(Path x) {
        try (CalibrationData d = CalibrationData.open(x)) {
            return d.samples();
        }
    }

    public static double maxAbsDifference(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException(a.length + " vs " + b.length);
        }
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    /** Vanilla averaging: the elementwise mean of every float initializer the parents share by name and shape. */
    public static Model average(List<Model> parents) {
        Graph g = parents.get(0).graph();
        Graph.Builder b = g.toBuilder();
        for (Tensor t : g.initializers().values()) {
            if (t.dataType() != DataType.FLOAT) {
                continue;
            }
            float[] sum = t.toFloats();
            for (int k = 1; k < parents.size(); k++) {
                float[] o = parents.get(k).graph().initializer(t.name()).orElseThrow().toFloats();
                for (int i = 0; i < sum.length; i++) {
                    sum[i] += o[i];
                }
            }
            for (int i = 0; i < sum.length; i++) {
                sum[i] /= parents.size();
            }
            b.putInitializer(t.withFloats(t.dims(), sum));
        }
        return parents.get(0).withGraph(b.build());
    }

    /**
     * The same function with every hidden level's neurons in a random order: the level's output
     * columns and the next level's input rows (blocks of positions per channel after a Flatten or
     * a Conv kernel) are permuted alike. Written with {@link LevelWriter}, so a folded
     * BatchNormalization is removed.
     */
    public static Model permuted(Model model, long seed) {
        LevelPlan plan = LevelPlanner.plan(model);
        Graph g = model.graph();
        Random rng = new Random(seed);
        List<double[][]> mats = new ArrayList<>();
        for (Level level : plan.levels()) {
            AffineWeights w = LevelWeights.read(g, level);
            double[][] m = new double[w.rows()][w.cols()];
            for (int i = 0; i < w.rows(); i++) {
                for (int j = 0; j < w.cols(); j++) {
                    m[i][j] = w.get(i, j);
                }
            }
            mats.add(m);
        }
        for (int l = 0; l + 1 < mats.size(); l++) {
            double[][] w = mats.get(l);
            int n = w[0].length;
            int[] perm = new int[n];
            for (int i = 0; i < n; i++) {
                perm[i] = i;
            }
            for (int i = n - 1; i > 0; i--) {
                int j = rng.nextInt(i + 1);
                int t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
            double[][] pw = new double[w.length][n];
            for (int i = 0; i < w.length; i++) {
                for (int j = 0; j < n; j++) {
                    pw[i][j] = w[i][perm[j]];
                }
            }
            mats.set(l, pw);
            double[][] next = mats.get(l + 1);
            boolean bias = plan.levels().get(l + 1).hasBias();
            int in = next.length - (bias ? 1 : 0);
            int block = in / n;
            double[][] pn = new double[next.length][];
            for (int c = 0; c < n; c++) {
                for (int q = 0; q < block; q++) {
                    pn[c * block + q] = next[perm[c] * block + q];
                }
            }
            if (bias) {
                pn[in] = next[in];
            }
            mats.set(l + 1, pn);
        }
        Graph out = g;
        for (int l = 0; l < mats.size(); l++) {
            Level level = plan.levels().get(l);
            Level next = l + 1 < mats.size() ? plan.levels().get(l + 1) : null;
            out = LevelWriter.write(out, level, next, DenseMatrix.fromRows(mats.get(l)));
        }
        return model.withGraph(out);
    }

    /**
     * The parent with hidden level {@code level}'s neurons cut down to the first {@code keep}:
     * that level's output columns and the next level's input rows (per position block) are
     * dropped. A narrower parent, for fusing parents of different widths.
     */
    public static Model truncated(Model model, int level, int keep) {
        LevelPlan plan = LevelPlanner.plan(model);
        Level cut = plan.level(level);
        Level next = plan.level(level + 1);
        AffineWeights w = LevelWeights.read(model.graph(), cut);
        double[][] own = new double[w.rows()][keep];
        for (int i = 0; i < w.rows(); i++) {
            for (int j = 0; j < keep; j++) {
                own[i][j] = w.get(i, j);
            }
        }
        AffineWeights v = LevelWeights.read(model.graph(), next);
        int n = w.cols();
        int in = v.rows() - (next.hasBias() ? 1 : 0);
        int block = in / n;
        double[][] following = new double[keep * block + (next.hasBias() ? 1 : 0)][v.cols()];
        for (int r = 0; r < keep * block; r++) {
            for (int j = 0; j < v.cols(); j++) {
                following[r][j] = v.get(r, j);
            }
        }
        if (next.hasBias()) {
            for (int j = 0; j < v.cols(); j++) {
                following[keep * block][j] = v.get(in, j);
            }
        }
        Graph g = LevelWriter.write(model.graph(), cut, next, DenseMatrix.fromRows(own));
        Level after = level + 2 <= plan.levels().size() ? plan.level(level + 2) : null;
        g = LevelWriter.write(g, next, after, DenseMatrix.fromRows(following));
        return model.withGraph(g);
    }

    /** Accuracy of the ensemble (mean of the parents' softmax outputs) on the test set. */
    public static double ensembleTestAccuracy(List<Model> parents) {
        long[] y = labels(data("test_y"), (int) samples(data("test_x")));
        double[] mean = null;
        for (Model m : parents) {
            float[] z = logits(m, data("test_x"), 0);
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

    /** Output names and declared shapes, for comparing a fused model's interface with its parents'. */
    public static Map<String, String> interfaceOf(Model m) {
        Map<String, String> out = new java.util.LinkedHashMap<>();
        m.graph().feedInputs().forEach(v -> out.put("in:" + v.name(), String.valueOf(v.tensorType())));
        m.graph().outputs().forEach(v -> out.put("out:" + v.name(), String.valueOf(v.tensorType())));
        return out;
    }
}
