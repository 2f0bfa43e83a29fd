package org.onnxfuse.onnx.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.Optional;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Recognises model files of other frameworks that users hand over instead of an ONNX export
 * (PyTorch checkpoints and TorchScript, SafeTensors, Keras and TensorFlow, TFLite, NumPy) by their
 * first bytes and, for zip archives, their entry names, and says which export turns them into
 * ONNX. Used for the model path (a file that is not an ONNX model) and for data files.
 */
public final class ForeignFormat {
    private static final byte[] HDF5 = {(byte) 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    private static final String TORCH_EXPORT = "export it to ONNX in Python: model.eval(); torch.onnx.export(model,"
            + " example_input, 'model.onnx', opset_version=17)";

    private ForeignFormat() {
    }

    /**
     * What {@code path} is and what to do, when it is a known non-ONNX model or a directory holding
     * one, e.g. "a PyTorch checkpoint (torch.save); export it to ONNX in Python: ...".
     */
    public static Optional<Found> describe(Path path) {
        try {
            if (Files.isDirectory(path)) {
                if (Files.exists(path.resolve("saved_model.pb"))) {
                    return found("a TensorFlow SavedModel directory", "convert it: python -m tf2onnx.convert --saved-model "
                            + path + " --output model.onnx --opset 17");
                }
                return Optional.empty();
            }
            if (!Files.isRegularFile(path)) {
                return Optional.empty();
            }
            byte[] head = new byte[16];
            int n;
            try (var in = Files.newInputStream(path)) {
                n = in.readNBytes(head, 0, head.length);
            }
            return describe(path, head, n, Files.size(path));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    private static Optional<Found> describe(Path path, byte[] head, int n, long size) throws IOException {
        if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
            return zip(path);
        }
        if (n >= 8 && startsWith(head, HDF5)) {
            return found("an HDF5 file (Keras .h5)", "convert it: python -m tf2onnx.convert --keras " + path
                    + " --output model.onnx --opset 17");
        }
        if (n >= 8 && head[4] == 'T' && head[5] == 'F' && head[6] == 'L' && head[7] == '3') {
            return found("a TensorFlow Lite model", "convert it: python -m tf2onnx.convert --tflite " + path
                    + " --output model.onnx --opset 17");
        }
        if (n >= 6 && (head[0] & 0xff) == 0x93 && startsWith(java.util.Arrays.copyOfRange(head, 1, 6),
                "NUMPY".getBytes(StandardCharsets.US_ASCII))) {
            return found("a NumPy array (.npy)", "that is data: give it as --data, and the model as an .onnx file");
        }
        if (n >= 2 && (head[0] & 0xff) == 0x80 && head[1] >= 2 && head[1] <= 5) {
            return found("a Python pickle (a legacy torch.save file)", "load the model in PyTorch and " + TORCH_EXPORT);
        }
        if (n >= 9 && head[8] == '{') {
            long header = ByteBuffer.wrap(head, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (header > 1 && header <= size - 8) {
                return found("SafeTensors weights (no graph)", "load them into the model's class in Python"
                        + " (safetensors.torch.load_file) and " + TORCH_EXPORT);
            }
        }
        return Optional.empty();
    }

    private static Optional<Found> zip(Path path) throws IOException {
        List<String> names = new ArrayList<>();
        try (ZipFile zip = new ZipFile(path.toFile())) {
            Enumeration<? extends ZipEntry> entries = zip.entries();
            while (entries.hasMoreElements() && names.size() < 10_000) {
                names.add(entries.nextElement().getName());
            }
        }
        boolean pickle = names.stream().anyMatch(e -> e.endsWith("data.pkl"));
        boolean script = names.stream().anyMatch(e -> e.endsWith("constants.pkl") || e.contains("/code/"));
        if (pickle && script) {
            return found("a TorchScript archive (torch.jit.save)", "load it with torch.jit.load and " + TORCH_EXPORT);
        }
        if (pickle) {
            return found("a PyTorch file (torch.save): weights, a tensor or a pickled module, not a graph",
                    "load the model in PyTorch and " + TORCH_EXPORT);
        }
        if (names.contains("config.json") && names.stream().anyMatch(e -> e.endsWith(".weights.h5"))) {
            return found("a Keras model (.keras)", "convert it: load it with keras.models.load_model, save it with"
                    + " model.export('saved_model'), then python -m tf2onnx.convert --saved-model saved_model"
                    + " --output model.onnx --opset 17");
        }
        if (names.stream().anyMatch(e -> e.endsWith(".npy"))) {
            return found("a NumPy archive (.npz)", "that is data: give it as --data, and the model as an .onnx file");
        }
        return Optional.empty();
    }

    /**
     * A recognised file: what it is ("a PyTorch file (torch.save): ...") and how to make an ONNX
     * model of it.
     */
    public record Found(String what, String advice) {
        /** "WHAT; ADVICE", for a model path. */
        public String forModel() {
            return what + "; " + advice;
        }

        /** Whether it is NumPy data (then a data reader has its own, more precise errors). */
        public boolean isNumpy() {
            return what.startsWith("a NumPy");
        }
    }

    private static Optional<Found> found(String what, String advice) {
        return Optional.of(new Found(what, advice));
    }

    private static boolean startsWith(byte[] bytes, byte[] prefix) {
        if (bytes.length < prefix.length) {
            return false;
        }
        for (int i = 0; i < prefix.length; i++) {
            if (bytes[i] != prefix[i]) {
                return false;
            }
        }
        return true;
    }
}
