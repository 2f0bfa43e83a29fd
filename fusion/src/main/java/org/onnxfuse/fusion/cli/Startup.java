package org.onnxfuse.fusion.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxfuse.fusion.collect.OrtLibraryCache;
import org.onnxfuse.kernels.Backends;
import org.onnxfuse.onnx.io.OnnxReader;

/**
 * Start-up work done on background threads while the main thread parses the command line and reads
 * the parents. As soon as the CLI starts: ONNX Runtime's native libraries (from
 * {@link OrtLibraryCache}), the protobuf classes of the ONNX schema ({@link OnnxReader#prepare})
 * and Jackson's serialisers (the provenance and the report are JSON); once the command knows it
 * fuses by neuron interpolation, the compute backend's libraries (OpenBLAS; the CUDA probe). Each
 * would otherwise be loaded on the main thread at its first use, one after the other: together
 * about a second of a short run on a 2-core machine. Only loading and class initialisation move:
 * ONNX Runtime's environment (whose log level depends on --verbose) and the backend are still
 * created where they were, so the results are the same bytes. A failure here is ignored; the first
 * use reports it as before.
 */
final class Startup {
    /** Arguments after which nothing is fused, so nothing is loaded ahead. */
    private static final Set<String> NOTHING_TO_LOAD = Set.of("-h", "--help", "-V", "--version");

    private Startup() {
    }

    /** Starts the work above unless {@link #worthPreloading} says the command will not need it. */
    static void preload(String... args) {
        if (!worthPreloading(List.of(args))) {
            return;
        }
        inBackground("onnx-fuse-preload", () -> {
            OnnxReader.prepare();
            OrtLibraryCache.preload();
            warmJackson();
        });
    }

    /** False for no arguments, a plan, and help or the version: nothing is fused, so nothing is loaded ahead. */
    static boolean worthPreloading(List<String> args) {
        return !args.isEmpty() && !args.get(0).equals("plan") && args.stream().noneMatch(NOTHING_TO_LOAD::contains);
    }

    /** Loads the classes Jackson needs to write a map of strings, numbers and lists. */
    private static void warmJackson() {
        try {
            new ObjectMapper().writeValueAsString(Map.of("warm", List.of(1.5, 2L, "text", true, Map.of())));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Starts loading what {@code Backends.open(device, ...)} needs first. */
    static void preloadBackend(String device) {
        inBackground("onnx-fuse-load-backend", () -> Backends.preload(device));
    }

    private static void inBackground(String name, Runnable work) {
        Thread thread = new Thread(() -> {
            try {
                work.run();
            } catch (RuntimeException | LinkageError e) {
                // reported by the first real use
            }
        }, name);
        thread.setDaemon(true);
        thread.start();
    }
}
