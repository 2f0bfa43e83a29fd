package org.onnxfuse.fusion.pipeline;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.Model;

/**
 * What a fused model records about how it was made, in its {@code metadata_props} under keys
 * prefixed {@value #PREFIX}: {@code version}, {@code method}, {@code seed}, {@code parents},
 * {@code parents.sha256}, {@code samples}, {@code widths} and {@code config} (see {@link Fusion}).
 * Nothing time- or host-dependent goes in, so the same inputs and seed give byte-identical files.
 */
public final class Provenance {
    /** Prefix of every metadata key onnx-fuse writes. */
    public static final String PREFIX = "onnx-fuse.";
    public static final String PRODUCER = "onnx-fuse";
    /** The tool's version (the Maven project version). */
    public static final String VERSION = "0.1.0-SNAPSHOT";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int BUFFER = 1 << 16;

    private Provenance() {
    }

    /** SHA-256 (lower-case hex) of a file's bytes, streamed. */
    public static String sha256(Path file) {
        MessageDigest digest = sha256();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buffer = new byte[BUFFER];
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
            }
        } catch (IOException e) {
            throw new ModelFormatException(ErrorCode.READ_FAILED, file + ": cannot read the file to hash it ("
                    + e + ")", e);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    /** SHA-256 of an in-memory model's serialised form ({@link OnnxWriter#toBytes}). */
    public static String sha256(Model model) {
        return HexFormat.of().formatHex(sha256().digest(OnnxWriter.toBytes(model)));
    }

    /** The {@value #PREFIX} entries of a model's metadata, prefix removed, in file order. */
    public static Map<String, String> read(Model model) {
        Map<String, String> out = new LinkedHashMap<>();
        model.metadata().forEach((k, v) -> {
            if (k.startsWith(PREFIX)) {
                out.put(k.substring(PREFIX.length()), v);
            }
        });
        return out;
    }

    /**
     * {@code model} with producer onnx-fuse {@value #VERSION} and its metadata plus {@code entries}
     * (keys without the prefix). Earlier {@value #PREFIX} entries (a template that was itself
     * fused) are dropped so they cannot be mistaken for this run's.
     */
    static Model stamp(Model model, Map<String, String> entries) {
        Map<String, String> metadata = new LinkedHashMap<>();
        model.metadata().forEach((k, v) -> {
            if (!k.startsWith(PREFIX)) {
                metadata.put(k, v);
            }
        });
        metadata.put(PREFIX + "version", VERSION);
        entries.forEach((k, v) -> metadata.put(PREFIX + k, v));
        return model.withMetadata(metadata).withProducer(PRODUCER, VERSION);
    }

    /** Compact JSON of a map of strings, numbers, booleans, lists and maps. */
    static String json(Map<String, ?> value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new OnnxFuseException(ErrorCode.INTERNAL, "cannot write the configuration as JSON: " + e, e);
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }
}
