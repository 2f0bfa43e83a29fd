package org.onnxfuse.onnx.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorData;

/**
 * A temporary file that takes a model's large in-memory tensors, so that a model built up tensor by
 * tensor (the fused model, level by level) holds on the heap only what is being worked on: a tensor
 * moved here reads its bytes back from the file on each {@link TensorData#rawBytes()} call, as an
 * external-data tensor of a model read from disk does, and the writer writes it like any other.
 *
 * <p>The file is created with {@link TempFiles} and unlinked as soon as it is open, so no path
 * names it and nothing is left behind however the process ends; its space is freed when the
 * channel closes, which the JDK does once the last tensor reading it is collected, or at exit.
 * Where the file system refuses to unlink an open file, it stays registered with
 * {@link TempFiles}, whose shutdown hook deletes it. Appends and reads may come from any thread.
 */
public final class TensorSpill {
    private final Path path;
    private final FileChannel channel;
    private long size;

    private TensorSpill(Path path, FileChannel channel) {
        this.path = path;
        this.channel = channel;
    }

    /**
     * A new, empty spill file in {@code folder}.
     *
     * @throws OnnxFuseException OUTPUT_UNWRITABLE when the folder cannot take a file
     */
    public static TensorSpill create(Path folder) {
        Path file = null;
        try {
            file = TempFiles.create(folder, "spill.data");
            FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
            try {
                Files.delete(file);
                TempFiles.moved(file);
            } catch (IOException e) {
                // kept registered: the shutdown hook deletes it
            }
            return new TensorSpill(file, channel);
        } catch (IOException e) {
            TempFiles.delete(file);
            throw new OnnxFuseException(ErrorCode.OUTPUT_UNWRITABLE, "cannot create a temporary file for tensors"
                    + " in " + folder + ": " + e.getMessage(), e);
        }
    }

    /** Bytes written so far. */
    public synchronized long size() {
        return size;
    }

    /** {@code tensor} with its data moved to this file (same name, type, shape, doc string and origin). */
    public Tensor offload(Tensor tensor) {
        TensorData data = tensor.data();
        ByteBuffer bytes = data.rawBytes();
        long offset = append(bytes, tensor.name());
        return new Tensor(tensor.name(), tensor.dataType(), tensor.dims(),
                new Spilled(this, offset, data.byteLength()), tensor.docString(), tensor.origin());
    }

    /**
     * Whether {@link #offload(Model, long)} would move a tensor of {@code model}: an initializer of
     * its main graph built in code ({@link TensorData.InMemory}) with at least {@code minBytes} bytes.
     */
    public static boolean holdsBuilt(Model model, long minBytes) {
        return model.graph().initializers().values().stream().anyMatch(t -> built(t, minBytes));
    }

    private static boolean built(Tensor t, long minBytes) {
        return t.data() instanceof TensorData.InMemory d && d.byteLength() >= minBytes;
    }

    /**
     * {@code model} with every initializer of its main graph that was built in code
     * ({@link TensorData.InMemory}) and has at least {@code minBytes} bytes moved to this file; the
     * same model when there is none. Tensors as a reader left them (inline in the parsed file, or
     * external data) and tensors already spilled stay as they are.
     */
    public Model offload(Model model, long minBytes) {
        Graph graph = model.graph();
        List<Tensor> initializers = new ArrayList<>(graph.initializers().values());
        boolean changed = false;
        for (int i = 0; i < initializers.size(); i++) {
            Tensor t = initializers.get(i);
            if (built(t, minBytes)) {
                initializers.set(i, offload(t));
                changed = true;
            }
        }
        return changed ? model.withGraph(graph.toBuilder().initializers(initializers).build()) : model;
    }

    private synchronized long append(ByteBuffer bytes, String name) {
        long offset = size;
        try {
            long position = offset;
            while (bytes.hasRemaining()) {
                position += channel.write(bytes, position);
            }
            size = position;
            return offset;
        } catch (IOException e) {
            throw new OnnxFuseException(ErrorCode.OUTPUT_UNWRITABLE, "cannot write tensor '" + name
                    + "' to the temporary file in " + path.getParent() + " (" + size + " bytes written): "
                    + e.getMessage(), e);
        }
    }

    private ByteBuffer read(long offset, long length) {
        ByteBuffer buffer = ByteBuffer.allocate(ProtoTensorData.bufferSize(length));
        try {
            long position = offset;
            while (buffer.hasRemaining()) {
                int n = channel.read(buffer, position);
                if (n < 0) {
                    throw new IllegalStateException("the temporary tensor file ended at byte " + position
                            + ", expected " + buffer.remaining() + " more bytes");
                }
                position += n;
            }
        } catch (IOException e) {
            throw new OnnxFuseException(ErrorCode.READ_FAILED, "cannot read back the temporary tensor file in "
                    + path.getParent() + ": " + e.getMessage(), e);
        }
        buffer.flip();
        return buffer.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** A range of a spill file, read on each call (never cached, so memory stays bounded). */
    record Spilled(TensorSpill file, long offset, long byteLength) implements TensorData {
        @Override
        public ByteBuffer rawBytes() {
            return file.read(offset, byteLength);
        }

        @Override
        public boolean inMemory() {
            return false;
        }
    }
}
