package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorData;

/**
 * The fused model keeps a level's weights of a MiB or more in the fusion's temporary file, not on
 * the heap, and they are the same values: the model written from it is the bytes of the same model
 * with every tensor copied back into memory.
 */
class FusedWeightsSpillTest {

    @Test
    void largeFusedWeightsLeaveTheHeapAndWriteTheSameBytes() {
        // 512 fused neurons at level 1: its 512 x 784 weights are 1.6 MB
        Model fused = Fusion.builder().parentModels(List.of(Fixtures.read("mlp_k2_p0.onnx"),
                        Fixtures.read("mlp_k2_p1.onnx"))).calibration(Fixtures.data("calib400_x.npy")).samples(300)
                .widths(FusionConfig.Widths.parse("1:512")).device("cpu").threads(1).seed(3).restarts(1)
                .log(s -> { }).build().fuse().model();

        List<Tensor> inMemory = new ArrayList<>();
        int spilled = 0;
        for (Tensor t : fused.graph().initializers().values()) {
            if (t.data().byteLength() >= LevelLoop.SPILL_MIN_BYTES) {
                assertFalse(t.data().inMemory(), t.name() + " is held on the heap");
                spilled++;
            } else {
                assertTrue(t.data().byteLength() < LevelLoop.SPILL_MIN_BYTES);
            }
            ByteBuffer raw = t.data().rawBytes();
            byte[] copy = new byte[raw.remaining()];
            raw.get(copy);
            inMemory.add(new Tensor(t.name(), t.dataType(), t.dims(), new TensorData.InMemory(ByteBuffer.wrap(copy)),
                    t.docString(), t.origin()));
        }
        assertEquals(1, spilled, "level 1's weights");
        Model copied = fused.withGraph(fused.graph().toBuilder().initializers(inMemory).build());
        assertArrayEquals(OnnxWriter.toBytes(copied), OnnxWriter.toBytes(fused));
    }
}
