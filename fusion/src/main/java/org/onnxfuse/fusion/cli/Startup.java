package org.onnxfuse.fusion.cli;

import java.util.List;
import java.util.Set;
import org.onnxfuse.fusion.collect.OrtLibraryCache;
import org.onnxfuse.kernels.Backends;

/**
 * Native libraries loaded on a background thread while the main thread parses the command line and
 * reads the parents: ONNX Runtime's (from {@link OrtLibraryCache}) as soon as the CLI starts, and
 * the compute backend's (OpenBLAS; the CUDA probe) once the command knows it fuses by neuron
 * interpolation. Both would otherwise be loaded on the main thread at their first use, one after
 * the other, about a second of a short run on a 2-core machine. Only the loading moves: ONNX
 * Runtime's environment (whose log level depends on --verbose) and the backend are still created
 * where they were, so the results are the same bytes. A failure here is ignored; the first use
 * reports it as before.
 */
final class Startup {
    /** Arguments after which nothing is fused, so nothing is loaded ahead. */
    private static final Set<String> NOTHING_TO_LOAD = Set.of("-h", "--help", "-V", "--version");

    private Startup() {
    }

    /** Starts loading ONNX Runtime's libraries unless {@code args} only ask for help, the version or a plan. */
    static void preloadRuntime(String... args) {
        List<String> given = List.of(args);
        if (given.isEmpty() || given.get(0).equals("plan") || given.stream().anyMatch(NOTHING_TO_LOAD::contains)) {
            return;
        }
        inBackground("onnx-fuse-load-onnxruntime", OrtLibraryCache::preload);
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
