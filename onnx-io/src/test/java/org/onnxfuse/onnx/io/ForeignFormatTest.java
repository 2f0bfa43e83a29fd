package org.onnxfuse.onnx.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;

/** Other frameworks' files given as a model get what they are and the export to run. */
class ForeignFormatTest {
    @TempDir
    Path dir;

    private Path zip(String name, String... entries) throws IOException {
        Path file = dir.resolve(name);
        try (ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(file))) {
            for (String entry : entries) {
                out.putNextEntry(new ZipEntry(entry));
                out.write(new byte[] {(byte) 0x80, 2, '}', '.'});
                out.closeEntry();
            }
        }
        return file;
    }

    private Path bytes(String name, byte[] content) throws IOException {
        Path file = dir.resolve(name);
        try (OutputStream out = Files.newOutputStream(file)) {
            out.write(content);
            out.write(new byte[64]);
        }
        return file;
    }

    private String refusal(Path file) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> OnnxReader.read(file));
        assertTrue(e.code() == ErrorCode.NOT_PROTOBUF || e.code() == ErrorCode.NOT_A_MODEL
                || e.code() == ErrorCode.IS_DIRECTORY, e.code() + ": " + e.getMessage());
        return e.getMessage();
    }

    private static void assertContains(String text, String part) {
        assertTrue(text.contains(part), text);
    }

    @Test
    void pytorchFilesGetTheExportCall() throws IOException {
        String checkpoint = refusal(zip("model.pt", "archive/data.pkl", "archive/data/0", "archive/version"));
        assertTrue(checkpoint.contains("expected an ONNX model, found a PyTorch file (torch.save)"), checkpoint);
        assertTrue(checkpoint.contains("torch.onnx.export(model, example_input, 'model.onnx', opset_version=17)"),
                checkpoint);
        String script = refusal(zip("scripted.pt", "m/data.pkl", "m/constants.pkl", "m/code/__torch__/m.py"));
        assertTrue(script.contains("a TorchScript archive (torch.jit.save); load it with torch.jit.load"), script);
        String pickle = refusal(bytes("old.pth", new byte[] {(byte) 0x80, 2, (byte) 0x8a, 0x0a}));
        assertTrue(pickle.contains("a Python pickle (a legacy torch.save file)"), pickle);
    }

    @Test
    void otherFrameworksAndDataFiles() throws IOException {
        byte[] header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}".getBytes(StandardCharsets.UTF_8);
        ByteBuffer st = ByteBuffer.allocate(8 + header.length).order(ByteOrder.LITTLE_ENDIAN);
        st.putLong(header.length).put(header);
        assertContains(refusal(bytes("w.safetensors", st.array())), "SafeTensors weights (no graph)");
        assertContains(refusal(bytes("k.h5", new byte[] {(byte) 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'})), "python -m tf2onnx.convert --keras");
        assertContains(refusal(bytes("m.tflite", new byte[] {0x1c, 0, 0, 0, 'T', 'F', 'L', '3'})), "python -m tf2onnx.convert --tflite");
        assertContains(refusal(zip("m.keras", "config.json", "metadata.json", "model.weights.h5")), "a Keras model (.keras)");
        Path savedModel = Files.createDirectory(dir.resolve("saved"));
        Files.write(savedModel.resolve("saved_model.pb"), new byte[] {8, 1});
        assertContains(refusal(savedModel), "found a TensorFlow SavedModel directory; convert it: python -m"
                + " tf2onnx.convert --saved-model");
        assertContains(refusal(bytes("x.npy", new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0})), "a NumPy array (.npy); that is data: give it as --data");
        assertEquals(java.util.Optional.empty(), ForeignFormat.describe(bytes("random.bin", new byte[] {1, 2, 3})));
    }
}
