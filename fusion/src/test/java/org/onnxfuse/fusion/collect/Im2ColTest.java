package org.onnxfuse.fusion.collect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.data.FloatBatch;
import org.onnxfuse.fusion.ops.AffineWeights;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.LevelWeights;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorType;
import org.onnxfuse.onnx.ir.ValueInfo;

/** X (im2col rows + ones) times the level's weights equals ONNX Runtime's cut, row by row. */
class Im2ColTest {

    /** Max |X W - cut| over a batch, with X from the level's input and W from LevelWeights (BN folded). */
    private static double check(Model model, Level level, FloatBatch batch) {
        try (OrtRunner runner = OrtRunner.open("model", model, List.of(level.input(), level.cut()), 1)) {
            var out = runner.run(batch, List.of(level.input(), level.cut()));
            LevelInputs inputs = new LevelInputs(level, model.graph());
            Activation in = out.get(level.input());
            float[] x = inputs.rows(in);
            int d = inputs.fanIn(in.shape());
            AffineWeights w = LevelWeights.read(model.graph(), level);
            assertEquals(w.rows(), d, "fan-in");
            float[] cut = CutRows.flatten(out.get(level.cut()), level.neuronAxis());
            int n = w.cols();
            int rows = x.length / d;
            assertEquals(cut.length, rows * n, "rows");
            double max = 0;
            double scale = 0;
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int i = 0; i < d; i++) {
                        s += (double) x[r * d + i] * w.get(i, j);
                    }
                    max = Math.max(max, Math.abs(s - cut[r * n + j]));
                    scale = Math.max(scale, Math.abs(cut[r * n + j]));
                }
            }
            return max / Math.max(scale, 1);
        }
    }

    private static FloatBatch calibration(int count) {
        try (CalibrationData d = CalibrationData.open(Fixtures.data("calib400_x.npy"))) {
            return d.batch(0, count);
        }
    }

    @Test
    void convLevelsOfTheFixtures() {
        FloatBatch batch = calibration(8);
        for (String name : List.of("vgg_p0", "gap_p0", "bn_p0")) {
            Model m = Fixtures.read(name + ".onnx");
            LevelPlan plan = LevelPlanner.plan(m);
            for (Level level : plan.levels()) {
                double err = check(m, level, batch);
                System.out.printf("%s level %d %s: relative max error %.2g%n", name, level.index(), level.opTypes(), err);
                assertTrue(err < 1e-5, name + " level " + level.index() + ": " + err);
            }
        }
    }

    private static Model singleConv(long[] inShape, long[] wShape, boolean bias, Attribute... attributes) {
        Random rng = new Random(3);
        float[] w = new float[(int) Tensor.elementCount(wShape)];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) rng.nextGaussian();
        }
        Graph.Builder g = Graph.builder().name("conv");
        g.addInput(ValueInfo.tensor("x", new TensorType(DataType.FLOAT, List.of(Dim.symbol("N"), Dim.of(inShape[1]),
                Dim.of(inShape[2]), Dim.of(inShape[3])))));
        g.addInitializer(Tensor.ofFloats("w", wShape, w));
        List<String> inputs = List.of("x", "w");
        if (bias) {
            float[] b = new float[(int) wShape[0]];
            for (int i = 0; i < b.length; i++) {
                b[i] = (float) rng.nextGaussian();
            }
            g.addInitializer(Tensor.ofFloats("b", new long[] {wShape[0]}, b));
            inputs = List.of("x", "w", "b");
        }
        g.addNode(Node.of("conv", "Conv", inputs, List.of("y"), attributes));
        g.addOutput(ValueInfo.tensor("y", new TensorType(DataType.FLOAT, null)));
        return Model.of(g.build(), 13);
    }

    private static FloatBatch random(long[] shape) {
        Random rng = new Random(5);
        float[] v = new float[(int) Tensor.elementCount(shape)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rng.nextGaussian();
        }
        return new FloatBatch(0, (int) shape[0], shape, v);
    }

    @Test
    void dilatedStridedAsymmetricallyPaddedConv() {
        long[] in = {3, 3, 11, 13};
        Model m = singleConv(in, new long[] {4, 3, 3, 2}, true, Attribute.ofLongs("dilations", 2, 2),
                Attribute.ofLongs("strides", 2, 2), Attribute.ofLongs("pads", 1, 0, 2, 1));
        Level level = LevelPlanner.plan(m).level(1);
        assertTrue(check(m, level, random(in)) < 1e-5);
    }

    @Test
    void samePaddingWithoutBias() {
        long[] in = {2, 2, 10, 7};
        for (String mode : List.of("SAME_UPPER", "SAME_LOWER", "VALID")) {
            Model m = singleConv(in, new long[] {3, 2, 4, 3}, false, Attribute.ofString("auto_pad", mode),
                    Attribute.ofLongs("strides", 3, 2));
            Level level = LevelPlanner.plan(m).level(1);
            double err = check(m, level, random(in));
            assertTrue(err < 1e-5, mode + ": " + err);
        }
    }
}
