package org.onnxfuse.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * Our CUDA kernels as the {@code native} module packs them: {@code /org/onnxfuse/native/NAME.fatbin}
 * (sm_90 machine code + compute_90 PTX) and {@code NAME.ptx} (compute_90 PTX, JIT-compiled by the
 * driver), built by nvcc at build time. Never compiled at run time.
 */
final class CudaKernels {
    static final String RESOURCE_DIR = "/org/onnxfuse/native/";
    static final String STATISTICS = "statistics";
    static final String GEMM = "gemm";
    static final String KMEANS = "kmeans";
    static final String CHOLESKY = "cholesky";
    static final String OPTIMIZER = "optimizer";
    static final List<String> MODULES = List.of(STATISTICS, GEMM, KMEANS, CHOLESKY, OPTIMIZER);

    private CudaKernels() {
    }

    /** A module's images to try in order (fatbin first); empty when the jar has neither. */
    static List<Image> images(String module) {
        Image fatbin = read(module + ".fatbin", false);
        Image ptx = read(module + ".ptx", true);
        return Stream.of(fatbin, ptx).filter(Objects::nonNull).toList();
    }

    /** The resource path of the first module with no image, or null when all are present. */
    static String firstMissing() {
        for (String module : MODULES) {
            if (CudaKernels.class.getResource(RESOURCE_DIR + module + ".ptx") == null
                    && CudaKernels.class.getResource(RESOURCE_DIR + module + ".fatbin") == null) {
                return RESOURCE_DIR + module + ".ptx";
            }
        }
        return null;
    }

    /**
     * The kernels this build carries, one entry per module: "statistics: xty_f32_to_f64,
     * add_slices", read from the PTX entry points; "statistics: not built" when the jar has none.
     */
    static List<String> describe() {
        List<String> lines = new java.util.ArrayList<>();
        for (String module : MODULES) {
            Image ptx = read(module + ".ptx", false);
            boolean fatbin = CudaKernels.class.getResource(RESOURCE_DIR + module + ".fatbin") != null;
            if (ptx == null) {
                lines.add(module + ": not built" + (fatbin ? " (fatbin only)" : ""));
                continue;
            }
            List<String> entries = new java.util.ArrayList<>();
            for (String line : new String(ptx.bytes(), java.nio.charset.StandardCharsets.US_ASCII).split("\n")) {
                if (line.startsWith(".visible .entry ")) {
                    String name = line.substring(".visible .entry ".length());
                    int paren = name.indexOf('(');
                    entries.add((paren < 0 ? name : name.substring(0, paren)).strip());
                }
            }
            lines.add(module + ": " + String.join(", ", entries) + (fatbin ? " (PTX compute_90 + sm_90 fatbin)"
                    : " (PTX compute_90)"));
        }
        return lines;
    }

    private static Image read(String file, boolean text) {
        try (InputStream in = CudaKernels.class.getResourceAsStream(RESOURCE_DIR + file)) {
            if (in == null) {
                return null;
            }
            byte[] bytes = in.readAllBytes();
            // cuModuleLoadData reads PTX as a NUL-terminated string.
            return new Image(RESOURCE_DIR + file, text ? Arrays.copyOf(bytes, bytes.length + 1) : bytes);
        } catch (IOException e) {
            throw new UncheckedIOException("could not read the CUDA kernel resource " + RESOURCE_DIR + file, e);
        }
    }

    record Image(String resource, byte[] bytes) {
    }
}
