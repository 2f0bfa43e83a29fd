package org.onnxfuse.fusion.solve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.pipeline.Fusion;
import org.onnxfuse.fusion.pipeline.FusionResult;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Tensor;

class StoredWeightsTest {

    @Test
    void bfloat16RoundsToNearestEvenAndKeepsSpecialValues() {
        assertEquals((short) 0x3f80, StoredWeights.toBfloat16(1.0f));
        assertEquals((short) 0x3f80, StoredWeights.toBfloat16(Float.intBitsToFloat(0x3f808000))); // tie: to even
        assertEquals((short) 0x3f82, StoredWeights.toBfloat16(Float.intBitsToFloat(0x3f818000))); // tie: to even
        assertEquals((short) 0x3f81, StoredWeights.toBfloat16(Float.intBitsToFloat(0x3f808001))); // above the tie
        assertEquals((short) 0xbf80, StoredWeights.toBfloat16(-1.0f));
        assertEquals((short) 0x7f80, StoredWeights.toBfloat16(Float.POSITIVE_INFINITY));
        assertEquals((short) 0x7f80, StoredWeights.toBfloat16(Float.MAX_VALUE)); // rounds up to infinity
        short nan = StoredWeights.toBfloat16(Float.NaN);
        assertTrue(Float.isNaN(Float.intBitsToFloat(nan << 16)), Integer.toHexString(nan));
    }

    /** Fused with each --dtype: loads in ONNX Runtime, about half the size, logits close to float32. */
    @Test
    void narrowWeightsRunInOnnxRuntimeCloseToFloat32(@TempDir Path dir) throws Exception {
        List<Model> parents = List.of(Fixtures.read("vgg_p0.onnx"), Fixtures.read("vgg_p1.onnx"));
        float[] reference = null;
        long float32Bytes = 0;
        for (WeightType type : WeightType.values()) {
            FusionResult r = Fusion.builder().parentModels(parents).calibration(Fixtures.data("calib400_x.npy"))
                    .samples(400).device("cpu").threads(Fixtures.THREADS).seed(1).weightType(type).log(s -> { })
                    .build().fuse();
            Path file = dir.resolve(type.cliName() + ".onnx");
            OnnxWriter.write(r.model(), file);
            Model written = OnnxReader.read(file);
            float[] logits = Fixtures.logits(written, Fixtures.data("test_x.npy"));
            long castNodes = written.graph().nodes().stream().filter(n -> n.opType().equals("Cast")).count();
            long narrow = written.graph().initializers().values().stream()
                    .filter(t -> t.dataType() == type.dataType() && type != WeightType.FLOAT32).count();
            if (type == WeightType.FLOAT32) {
                assertSame(r.float32Model(), r.model());
                reference = logits;
                float32Bytes = Files.size(file);
                continue;
            }
            assertTrue(narrow > 0 && castNodes >= narrow, type + ": " + narrow + " narrow tensors, " + castNodes + " casts");
            for (Tensor t : written.graph().initializers().values()) {
                if (t.dataType() == DataType.FLOAT) {
                    assertTrue(t.elementCount() < StoredWeights.MIN_ELEMENTS, t.name() + " stayed float32");
                }
            }
            double ratio = (double) Files.size(file) / float32Bytes;
            double difference = Fixtures.maxAbsDifference(reference, logits);
            double scale = Fixtures.maxAbsDifference(reference, new float[reference.length]);
            System.out.printf("%s: %.3f of the float32 file, max logit difference %.3g of %.3g, accuracy %.4f%n", type,
                    ratio, difference, scale, Fixtures.testAccuracy(written));
            assertTrue(ratio < 0.55, type + " file is " + ratio + " of float32");
            // float16 keeps 11 significant bits, bfloat16 8: relative weight errors of 2^-11 and 2^-8
            double bound = (type == WeightType.FLOAT16 ? 0.01 : 0.08) * scale;
            assertTrue(difference < bound, type + ": logit difference " + difference + " of " + scale);
        }
    }

    @Test
    void bfloat16NeedsOpset13AndFloat32IsTheModelItself() {
        Model parent = Fixtures.read("mlp_k2_p0.onnx");
        assertSame(parent, StoredWeights.convert(parent, WeightType.FLOAT32));
        Model old = Model.of(parent.graph(), 11);
        OnnxFuseException e = assertThrows(OnnxFuseException.class,
                () -> StoredWeights.convert(old, WeightType.BFLOAT16));
        assertEquals("--dtype bfloat16 needs ONNX opset 13 or newer (Cast from BFLOAT16), but the parents use opset 11;"
                + " use --dtype float16 or float32, or re-export the parents with a newer opset", e.getMessage());
        assertEquals(3, StoredWeights.convert(old, WeightType.FLOAT16).graph().nodes().stream()
                .filter(n -> n.opType().equals("Cast")).count());
        OnnxFuseException unknown = assertThrows(OnnxFuseException.class, () -> WeightType.fromName("int8"));
        assertEquals("unknown weight type 'int8'; expected one of [float32, float16, bfloat16]", unknown.getMessage());
    }
}
