package org.onnxfuse.fusion.collect;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.data.FloatBatch;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.onnx.ir.Model;

/**
 * The allocation-free paths of the collection loop (reused batches, pinned ONNX Runtime outputs,
 * X and A built in reused buffers) give exactly what the allocating paths give.
 */
class ReusedBuffersTest {

    /** Copies of every batch through run() against runShared() over the same data, uneven last batch included. */
    private static void sameOutputs(String model, int levelIndex) {
        Model m = Fixtures.read(model + ".onnx");
        LevelPlan plan = LevelPlanner.plan(m);
        Level level = plan.level(levelIndex);
        List<String> outputs = List.of(level.input(), level.cut());
        try (CalibrationData data = CalibrationData.open(Fixtures.data("calib400_x.npy")).limit(45);
             OrtRunner copying = OrtRunner.open("copying", m, outputs, 1);
             OrtRunner sharing = OrtRunner.open("sharing", m, outputs, 1)) {
            List<FloatBatch> fresh = new ArrayList<>();
            data.batches(8).forEach(fresh::add);
            int i = 0;
            float[] firstCut = null;
            for (FloatBatch b : data.reusedBatches(8)) {
                FloatBatch f = fresh.get(i++);
                assertArrayEquals(f.values(), b.values());
                Map<String, Activation> want = copying.run(f, outputs);
                Map<String, Activation> got = sharing.runShared(b, outputs);
                for (String name : outputs) {
                    assertArrayEquals(want.get(name).shape(), got.get(name).shape(), name);
                    assertArrayEquals(want.get(name).values(), got.get(name).values(), name);
                }
                if (b.count() == 8) {
                    // from the second full batch on, ONNX Runtime writes into the runner's buffers
                    float[] cut = got.get(level.cut()).values();
                    firstCut = firstCut == null ? cut : firstCut;
                    assertSame(firstCut, cut);
                }
                LevelInputs inputs = new LevelInputs(level, m.graph());
                Activation in = want.get(level.input());
                float[] x = inputs.rows(in);
                int d = inputs.fanIn(in.shape());
                float[] big = new float[x.length + 5];
                float[] reused = inputs.rows(in, big);
                assertEquals(x.length / d, inputs.rowCount(in.shape()));
                for (int k = 0; k < x.length; k++) {
                    assertEquals(x[k], reused[k], "X value " + k);
                }
            }
            assertEquals(fresh.size(), i);
        }
    }

    @Test
    void mlpLevelOne() {
        sameOutputs("mlp_k2_p0", 1);
    }

    @Test
    void convLevelTwo() {
        sameOutputs("vgg_p0", 2);
    }

    @Test
    void flattenIntoPlacesColumns() {
        // [2, 3, 2] with neuron axis 1: rows (n, p), columns c; placed at columns 1..4 of a 5-wide matrix
        float[] v = new float[12];
        for (int k = 0; k < v.length; k++) {
            v[k] = k;
        }
        Activation a = new Activation("t", new long[] {2, 3, 2}, v);
        float[] flat = CutRows.flatten(a, 1);
        float[] out = new float[4 * 5];
        CutRows.flattenInto(a, 1, out, 5, 1);
        for (int r = 0; r < 4; r++) {
            assertEquals(0f, out[r * 5]);
            assertEquals(0f, out[r * 5 + 4]);
            for (int c = 0; c < 3; c++) {
                assertEquals(flat[r * 3 + c], out[r * 5 + 1 + c], "row " + r + " col " + c);
            }
        }
        // neuron axis last: whole rows
        float[] out2 = new float[6 * 4];
        CutRows.flattenInto(new Activation("u", new long[] {6, 2}, new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}),
                1, out2, 4, 2);
        assertArrayEquals(new float[] {0, 0, 1, 2, 0, 0, 3, 4}, java.util.Arrays.copyOf(out2, 8));
    }
}
