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
