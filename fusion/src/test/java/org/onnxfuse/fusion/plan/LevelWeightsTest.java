package org.onnxfuse.fusion.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.ops.AffineWeights;
import org.onnxfuse.fusion.plan.TestNets.Net;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Node;

/** Weights as fan-in x width matrices: [x, 1] * W reproduces the cut, BatchNormalization included. */
class LevelWeightsTest {

    private static float[] floats(Graph g, String name) {
        return g.initializer(name).orElseThrow().toFloats();
    }

    /** y = [x, 1] W for one sample. */
    private static double[] apply(AffineWeights w, double[] x) {
        double[] y = new double[w.cols()];
        for (int j = 0; j < w.cols(); j++) {
            double s = w.hasBias() ? w.get(w.rows() - 1, j) : 0;
            for (int i = 0; i < w.inFeatures(); i++) {
                s += x[i] * w.get(i, j);
            }
            y[j] = s;
        }
        return y;
    }

    @Test
    void gemmWithAlphaBetaAndNoTranspose() {
        Net net = Net.input("batch", 3);
        net.init("B", new long[] {3, 2});
        net.init("C", new long[] {2});
        net.node(Node.of("g", "Gemm", List.of("input", "B", "C"), List.of("y"), Attribute.ofFloat("alpha", 2f),
                Attribute.ofFloat("beta", 0.5f)));
        Graph g = net.graph();
        AffineWeights w = LevelWeights.read(g, LevelPlanner.plan(net.build()).level(1));
        float[] b = floats(g, "B");
        float[] c = floats(g, "C");
        assertEquals(4, w.rows());
        assertEquals(2 * b[2 * 2 + 1], w.get(2, 1));
        assertEquals(0.5f * c[1], w.get(3, 1));
    }

    @Test
    void convRowsAreOrderedLikeIm2col() {
        Net net = Net.input("batch", 2, 5, 5).conv("c", 2, 3, 3, true);
        Graph g = net.graph();
        AffineWeights w = LevelWeights.read(g, LevelPlanner.plan(net.build()).level(1));
        float[] weight = floats(g, "c.weight");  // [3, 2, 3, 3]
        assertEquals(2 * 9 + 1, w.rows());
        assertEquals(3, w.cols());
        // row (c_in=1, ky=2, kx=0) = 1*9 + 2*3 + 0 = 15, output channel 2
        assertEquals(weight[2 * 18 + 15], w.get(15, 2));
        assertEquals(floats(g, "c.bias")[1], w.get(18, 1));
    }

    @Test
    void matMulWithBiasAdd() {
        Net net = Net.input("batch", 4).matmul("mm", 4, 3, true);
        Graph g = net.graph();
        AffineWeights w = LevelWeights.read(g, LevelPlanner.plan(net.build()).level(1));
        assertEquals(floats(g, "mm.weight")[3 * 3 + 2], w.get(3, 2));
        assertEquals(floats(g, "mm.bias")[2], w.get(4, 2));
        assertTrue(w.hasBias());
    }

    @Test
    void foldedBatchNormReproducesTheCut() {
        Net net = Net.input("batch", 5).gemm("fc", 5, 4, true, true).batchNorm("bn", 4);
        Graph g = net.graph();
        Level level = LevelPlanner.plan(net.build()).level(1);
        AffineWeights w = LevelWeights.read(g, level);
        float[] weight = floats(g, "fc.weight");  // [4, 5]
        float[] bias = floats(g, "fc.bias");
        float[] scale = floats(g, "bn.scale");
        float[] beta = floats(g, "bn.bias");
        float[] mean = floats(g, "bn.mean");
        float[] var = floats(g, "bn.var");
        Random r = new Random(3);
        for (int trial = 0; trial < 5; trial++) {
            double[] x = r.doubles(5, -2, 2).toArray();
            double[] y = apply(w, x);
            for (int j = 0; j < 4; j++) {
                double z = bias[j];
                for (int i = 0; i < 5; i++) {
                    z += weight[j * 5 + i] * x[i];
                }
                double expected = (z - mean[j]) / Math.sqrt(var[j] + 1e-5) * scale[j] + beta[j];
                assertEquals(expected, y[j], 1e-4);
            }
        }
    }

    @Test
    void foldingANormIntoABiaslessConvAddsABiasRow() {
        Net net = Net.input("batch", 1, 4, 4).conv("c", 1, 2, 3, false).batchNorm("bn", 2);
        Graph g = net.graph();
        AffineWeights plain = LevelWeights.read(g, new Level(1, List.of(), g.nodes().get(0), null, null, List.of(),
                "input", "input", List.of(), "c_out", List.of(), 1, 2, 9, false, java.util.Map.of(), true, 0,
                InputBinding.modelInput(), false));
        assertFalse(plain.hasBias());
        AffineWeights folded = LevelWeights.read(g, LevelPlanner.plan(net.build()).level(1));
        assertEquals(10, folded.rows());
        float[] mean = floats(g, "bn.mean");
        float[] scale = floats(g, "bn.scale");
        float[] beta = floats(g, "bn.bias");
        float[] var = floats(g, "bn.var");
        assertEquals((-mean[1]) / Math.sqrt(var[1] + 1e-5) * scale[1] + beta[1], folded.get(9, 1), 1e-5);
    }
}
