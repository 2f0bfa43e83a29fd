package org.onnxfuse.onnx.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorData;

/** Tensors moved to a temporary file read back the same bytes, write the same model and leave no file. */
class TensorSpillTest {
    @TempDir
    Path dir;

    /** The inline MLP with W1 (its largest weight) replaced by a tensor built in code, as the fusion writes one. */
    private Model withBuiltWeight(long seed) {
        Model m = OnnxReader.read(RoundTrip.save(Protos.mlp(seed, false).toByteArray(), dir.resolve("m" + seed + ".onnx")));
        Tensor w1 = m.graph().initializers().values().iterator().next();
        float[] values = new float[Math.toIntExact(w1.elementCount())];
        Random random = new Random(seed);
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return m.withGraph(m.graph().toBuilder().putInitializer(w1.withFloats(w1.dims(), values)).build());
    }

    @Test
    void offloadedModelReadsTheSameValuesAndWritesTheSameBytes() throws IOException {
        Model built = withBuiltWeight(3);
        Path spillFolder = Files.createDirectory(dir.resolve("spill"));
        TensorSpill spill = TensorSpill.create(spillFolder);
        assertTrue(TensorSpill.holdsBuilt(built, 1));
        Model spilled = spill.offload(built, 1);

        String name = built.graph().initializers().keySet().iterator().next();
        Tensor before = built.graph().initializers().get(name);
        Tensor after = spilled.graph().initializers().get(name);
        assertFalse(after.data().inMemory());
        assertEquals(before.data().byteLength(), after.data().byteLength());
        assertArrayEquals(before.toFloats(), after.toFloats());
        assertEquals(before.data().byteLength(), spill.size());
        assertFalse(TensorSpill.holdsBuilt(spilled, 1), "nothing built is left on the heap");
        // the tensors the reader left (inline raw_data of the parsed file) stay as they were
        built.graph().initializers().forEach((n, t) -> {
            if (!n.equals(name)) {
                assertSame(t.data(), spilled.graph().initializers().get(n).data());
            }
        });

        assertArrayEquals(OnnxWriter.toBytes(built), OnnxWriter.toBytes(spilled));
        Path a = Files.createDirectory(dir.resolve("a")).resolve("model.onnx");
        Path b = Files.createDirectory(dir.resolve("b")).resolve("model.onnx");
        OnnxWriter.write(built, a, WriteOptions.externalAbove(64, "model.onnx.data"));
        OnnxWriter.write(spilled, b, WriteOptions.externalAbove(64, "model.onnx.data"));
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b));
        assertArrayEquals(Files.readAllBytes(a.resolveSibling("model.onnx.data")),
                Files.readAllBytes(b.resolveSibling("model.onnx.data")));

        try (Stream<Path> left = Files.list(spillFolder)) {
            assertEquals(0, left.count(), "the spill file is unlinked once open");
        }
    }

    /**
     * A model whose initializers exceed the inline limit is written with external data from the
     * start: every tensor's bytes are read once (the side file's copy, or the message's for the
     * small ones), never first into an inline message that is then dropped (which held a 2.155 GB
     * fused model's spilled weights on a 2 GiB heap).
     */
    @Test
    void aModelOverTheInlineLimitReadsEachTensorOnce() throws IOException {
        Random random = new Random(5);
        var proto = ai.onnx.proto.OnnxMl.GraphProto.newBuilder().setName("wide")
                .addInput(Protos.valueInfo("x", 1, -1, 64)).addOutput(Protos.valueInfo("y", 1, -1, 64))
                .addNode(Protos.node("fc", "Gemm", new String[] {"x", "W", "b"}, new String[] {"y"},
                        Protos.intAttr("transB", 1)))
                .addInitializer(Protos.rawFloatTensor("W", new long[] {64, 64}, Protos.randomFloats(random, 64 * 64)))
                .addInitializer(Protos.rawFloatTensor("b", new long[] {64}, Protos.randomFloats(random, 64)));
        Model plain = OnnxReader.read(RoundTrip.save(Protos.model(proto.build()).toByteArray(), dir.resolve("w.onnx")));
        java.util.Map<String, int[]> reads = new java.util.HashMap<>();
        var graph = plain.graph().toBuilder();
        plain.graph().initializers().forEach((name, t) -> {
            int[] count = new int[1];
            reads.put(name, count);
            TensorData inner = t.data();
            TensorData counted = new TensorData() {
                @Override
                public long byteLength() {
                    return inner.byteLength();
                }

                @Override
                public java.nio.ByteBuffer rawBytes() {
                    count[0]++;
                    return inner.rawBytes();
                }

                @Override
                public boolean inMemory() {
                    return false;
                }
            };
            graph.putInitializer(new Tensor(name, t.dataType(), t.dims(), counted, t.docString(), null));
        });
        Model model = plain.withGraph(graph.build());
        long bytes = OnnxWriter.initializerBytes(model.graph());
        assertTrue(bytes > 2 * WriteOptions.AUTOMATIC_THRESHOLD, "W is over the side-file threshold");
        Path out = Files.createDirectory(dir.resolve("over")).resolve("model.onnx");
        try (StagedFiles staged = OnnxWriter.stage(model, out, WriteOptions.defaults(), bytes - 1)) {
            staged.commit();
        }
        assertTrue(Files.exists(out.resolveSibling("model.onnx.data")), "the big initializers went to a side file");
        reads.forEach((name, count) -> assertEquals(1, count[0], "reads of '" + name + "'"));
        Model back = OnnxReader.read(out);
        plain.graph().initializers().forEach((name, t) ->
                assertArrayEquals(t.toFloats(), back.graph().initializers().get(name).toFloats(), name));

        // at the limit, the same model stays one file, each tensor read once as well
        reads.values().forEach(c -> c[0] = 0);
        Path inline = Files.createDirectory(dir.resolve("at")).resolve("model.onnx");
        try (StagedFiles staged = OnnxWriter.stage(model, inline, WriteOptions.defaults(), bytes)) {
            staged.commit();
        }
        assertFalse(Files.exists(inline.resolveSibling("model.onnx.data")));
        reads.forEach((name, count) -> assertEquals(1, count[0], "inline reads of '" + name + "'"));
    }

    @Test
    void onlyTensorsBuiltInMemoryAndLargeEnoughMove() {
        Model built = withBuiltWeight(4);
        Tensor w1 = built.graph().initializers().values().iterator().next();
        TensorSpill spill = TensorSpill.create(dir);
        assertSame(built, spill.offload(built, w1.data().byteLength() + 1), "nothing at or above the size");
        assertFalse(TensorSpill.holdsBuilt(built, w1.data().byteLength() + 1));
        Model read = OnnxReader.read(dir.resolve("m4.onnx"));
        assertSame(read, spill.offload(read, 1), "a model as read holds nothing built in code");
        assertEquals(0, spill.size());
        Model once = spill.offload(built, 1);
        assertSame(once, spill.offload(once, 1), "spilled tensors are not moved again");
        assertInstanceOf(TensorData.class, once.graph().initializers().get(w1.name()).data());
    }

    @Test
    void aFolderThatCannotTakeTheFileIsAnOutputError() {
        OnnxFuseException e = assertThrows(OnnxFuseException.class,
                () -> TensorSpill.create(dir.resolve("no-such-folder")));
        assertEquals(ErrorCode.OUTPUT_UNWRITABLE, e.code());
        assertTrue(e.getMessage().contains("no-such-folder"), e.getMessage());
    }
}
