package org.onnxfuse.fusion.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.lang.management.OperatingSystemMXBean;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import org.onnxfuse.kernels.Backends;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.CudaStatus;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.StatisticsAccumulator;
import org.onnxfuse.kernels.Transpose;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code onnx-fuse diagnose [--bench] [--json]}: what this machine offers the fusion (Java, OS,
 * processors, memory, ONNX Runtime and its providers, the compute backends and why CUDA is or is
 * not usable) and, with {@code --bench}, how fast the chosen backend runs the two kinds of work
 * the statistics stage is made of.
 *
 * <p>The benchmark compares the statistics accumulation (float32 batches of 256 rows widened to
 * float64, then X<sup>T</sup>X and A<sup>T</sup>A by syrk and X<sup>T</sup>A by gemm, as
 * {@link StatisticsAccumulator} does for a real level) with one large float64 matrix product on
 * the same backend in the same run, so the ratio says how close the streaming is to the
 * backend's ceiling whatever else the machine is doing. Flops are counted as the BLAS calls do
 * the work: M d (d + 1) for X<sup>T</sup>X (syrk computes one triangle), 2 M d m for
 * X<sup>T</sup>A and M m (m + 1) for A<sup>T</sup>A; 2 n<sup>3</sup> for the n x n x n product.
 * Every figure is the median of 5 timed runs after one warm-up. Both go through the public
 * backend API, so on CUDA they include the host-device transfers.
 */
@Command(name = "diagnose", mixinStandardHelpOptions = true, versionProvider = DiagnoseCommand.Version.class,
        description = {"Print an environment report: Java, OS, processors, memory, ONNX Runtime and its providers,"
                + " the compute backends and CUDA status.",
            "With --bench, also measure the backend: the GEMM rate of one large float64 matrix product and the"
                + " rate of streaming statistics accumulation for realistic fusion levels (GFLOP/s, median of 5"
                + " after a warm-up), and their ratio."})
public final class DiagnoseCommand implements Callable<Integer> {
    static final int WARMUPS = 1;
    static final int REPEATS = 5;
    private static final long SEED = 20240531L;

    /** Problem sizes; {@code small} exists so tests can run the benchmark in well under a second. */
    enum BenchSize {
        /** One 2048^3 product; a 784-256-10 MLP's first level (d = 785) for 2 and 8 parents, 5000 samples. */
        FULL(2048, 5000, 256, 785, 256, new int[] {2, 8}),
        SMALL(96, 600, 256, 33, 16, new int[] {2, 8});

        final int gemmSize;
        final int rows;
        final int batchRows;
        final int d;
        final int widthPerParent;
        final int[] parents;

        BenchSize(int gemmSize, int rows, int batchRows, int d, int widthPerParent, int[] parents) {
            this.gemmSize = gemmSize;
            this.rows = rows;
            this.batchRows = batchRows;
            this.d = d;
            this.widthPerParent = widthPerParent;
            this.parents = parents;
        }
    }

    @Spec
    private CommandSpec spec;

    @Option(names = "--bench", description = "Also measure the GEMM and statistics-accumulation rates of the backend.")
    private boolean bench;

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "auto",
            description = "Backend for --bench: auto, cpu or cuda (default: ${DEFAULT-VALUE}).")
    private String device;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0",
            description = "Host threads for BLAS in --bench; 0 = one per processor (default).")
    private int threads;

    @Option(names = "--json", description = "Print JSON instead of text.")
    private boolean json;

    @Option(names = "--bench-size", hidden = true, defaultValue = "full", paramLabel = "full|small",
            description = "Benchmark problem sizes (small: for tests).")
    private String benchSize;

    @Option(names = "--verbose", description = "Stack traces on errors.")
    private boolean verbose;

    public DiagnoseCommand() {
    }

    @Override
    public Integer call() {
        SubcommandGuard.refuseFusionOptions(spec);
        BenchSize size = parseBenchSize();
        if (!Backends.DEVICES.contains(device.toLowerCase(Locale.ROOT))) {
            throw new CommandLine.ParameterException(spec.commandLine(), "unknown --device '" + device
                    + "', expected one of " + Backends.DEVICES);
        }
        if (threads < 0) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--threads must be >= 0 (0 = one per"
                    + " processor), found " + threads);
        }
        Map<String, Object> report = environment();
        if (bench) {
            report.put("bench", benchmark(size));
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            try {
                out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(report));
            } catch (JsonProcessingException e) {
                throw new IllegalStateException("could not write the report as JSON: " + e.getMessage(), e);
            }
        } else {
            out.print(text(report));
        }
        out.flush();
        return 0;
    }

    private BenchSize parseBenchSize() {
        for (BenchSize s : BenchSize.values()) {
            if (s.name().equalsIgnoreCase(benchSize)) {
                return s;
            }
        }
        throw new CommandLine.ParameterException(spec.commandLine(), "unknown --bench-size '" + benchSize
                + "', expected full or small");
    }

    // ---------------------------------------------------------------- environment

    private static Map<String, Object> environment() {
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("onnxFuse", toolVersion());
        Map<String, Object> java = new LinkedHashMap<>();
        java.put("version", System.getProperty("java.version"));
        java.put("vendor", System.getProperty("java.vendor"));
        java.put("vm", System.getProperty("java.vm.name") + " " + System.getProperty("java.vm.version"));
        report.put("java", java);
        Map<String, Object> os = new LinkedHashMap<>();
        os.put("name", System.getProperty("os.name"));
        os.put("version", System.getProperty("os.version"));
        os.put("arch", System.getProperty("os.arch"));
        report.put("os", os);
        report.put("processors", Runtime.getRuntime().availableProcessors());
        report.put("maxHeapBytes", Runtime.getRuntime().maxMemory());
        OperatingSystemMXBean bean = ManagementFactory.getOperatingSystemMXBean();
        if (bean instanceof com.sun.management.OperatingSystemMXBean sun) {
            report.put("physicalMemoryBytes", sun.getTotalMemorySize());
        }
        report.put("onnxruntime", onnxRuntime());
        CudaStatus cuda = Backends.cudaStatus();
        report.put("backends", List.of(Backends.diagnose().split("\n")));
        Map<String, Object> cudaReport = new LinkedHashMap<>();
        cudaReport.put("available", cuda.available());
        cudaReport.put("detail", cuda.detail());
        report.put("cuda", cudaReport);
        return report;
    }

    /** ONNX Runtime's version and providers, or why it could not be loaded (its natives may be missing). */
    private static Map<String, Object> onnxRuntime() {
        Map<String, Object> ort = new LinkedHashMap<>();
        try {
            ort.put("version", org.onnxfuse.fusion.collect.RuntimeLogging.environment().getVersion());
            List<String> providers = new ArrayList<>();
            for (ai.onnxruntime.OrtProvider p : ai.onnxruntime.OrtEnvironment.getAvailableProviders()) {
                providers.add(p.getName());
            }
            ort.put("providers", providers);
        } catch (Exception | LinkageError e) {
            ort.put("error", e.getClass().getSimpleName() + ": " + e.getMessage());
        }
        return ort;
    }

    // ---------------------------------------------------------------- benchmark

    private Map<String, Object> benchmark(BenchSize size) {
        List<String> log = new ArrayList<>();
        Map<String, Object> result = new LinkedHashMap<>();
        try (ComputeBackend backend = Backends.open(device, threads, log::add)) {
            result.put("device", device.toLowerCase(Locale.ROOT));
            result.put("backend", backend.name());
            result.put("description", backend.description());
            result.put("threads", backend.threads());
            if (!log.isEmpty()) {
                result.put("note", String.join("; ", log));
            }
            result.put("size", size.name().toLowerCase(Locale.ROOT));
            result.put("warmups", WARMUPS);
            result.put("repeats", REPEATS);
            Map<String, Object> gemm = gemmBenchmark(backend, size.gemmSize);
            result.put("gemm", gemm);
            double gemmRate = (Double) gemm.get("gflops");
            List<Map<String, Object>> statistics = new ArrayList<>();
            int maxM = Arrays.stream(size.parents).max().orElse(1) * size.widthPerParent;
            List<float[]> xs = new ArrayList<>();
            List<float[]> as = new ArrayList<>();
            randomBatches(size, maxM, xs, as);
            for (int parents : size.parents) {
                Map<String, Object> s = statisticsBenchmark(backend, size, parents, xs, as);
                double ratio = (Double) s.get("gflops") / gemmRate;
                s.put("ratioToGemm", ratio);
                statistics.add(s);
            }
            result.put("statistics", statistics);
        }
        return result;
    }

    private static Map<String, Object> gemmBenchmark(ComputeBackend backend, int n) {
        SplittableRandom random = new SplittableRandom(SEED);
        DenseMatrix a = new DenseMatrix(n, n, random.doubles((long) n * n, -1, 1).toArray());
        DenseMatrix b = new DenseMatrix(n, n, random.doubles((long) n * n, -1, 1).toArray());
        double flops = 2.0 * n * n * (double) n;
        double[] seconds = time(() -> backend.gemm(Transpose.NO, Transpose.NO, 1.0, a, b, 0.0, null));
        Map<String, Object> g = new LinkedHashMap<>();
        g.put("m", n);
        g.put("n", n);
        g.put("k", n);
        g.put("flops", flops);
        putTimes(g, seconds, flops);
        return g;
    }

    /** Batches of float32 rows: X with a trailing bias column of ones, A non-negative like ReLU outputs. */
    private static void randomBatches(BenchSize size, int maxM, List<float[]> xs, List<float[]> as) {
        SplittableRandom random = new SplittableRandom(SEED + 1);
        for (int start = 0; start < size.rows; start += size.batchRows) {
            int rows = Math.min(size.batchRows, size.rows - start);
            float[] x = new float[rows * size.d];
            for (int i = 0; i < x.length; i++) {
                x[i] = (i % size.d == size.d - 1) ? 1f : (float) random.nextDouble(-1, 1);
            }
            float[] a = new float[rows * maxM];
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) Math.max(0.0, random.nextDouble(-1, 1));
            }
            xs.add(x);
            as.add(a);
        }
    }

    private static Map<String, Object> statisticsBenchmark(ComputeBackend backend, BenchSize size, int parents,
                                                           List<float[]> xs, List<float[]> as) {
        int d = size.d;
        int m = parents * size.widthPerParent;
        double rowsTotal = size.rows;
        double flops = rowsTotal * d * (d + 1.0) + 2.0 * rowsTotal * d * m + rowsTotal * m * (m + 1.0);
        double[] seconds;
        try (StatisticsAccumulator acc = backend.openStatistics(d, m)) {
            // The batches' A holds rows x maxM values; the first rows x m of them are as random as any.
            seconds = time(() -> {
                acc.reset();
                for (int i = 0; i < xs.size(); i++) {
                    acc.accumulate(xs.get(i), as.get(i), xs.get(i).length / d);
                }
                // Backends may defer work (CPU blocks of rows, an asynchronous device): reading the sums is
                // the point where all of it must have been done.
                acc.statistics();
                if (acc.rows() != size.rows) {
                    throw new IllegalStateException("accumulated " + acc.rows() + " rows, expected " + size.rows);
                }
            });
        }
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("label", "MLP level 1, " + parents + " parents of width " + size.widthPerParent);
        s.put("parents", parents);
        s.put("d", d);
        s.put("m", m);
        s.put("rows", size.rows);
        s.put("batchRows", size.batchRows);
        s.put("flops", flops);
        putTimes(s, seconds, flops);
        return s;
    }

    /** Seconds of each of {@link #REPEATS} timed runs after {@link #WARMUPS} untimed ones, sorted. */
    private static double[] time(Runnable body) {
        for (int i = 0; i < WARMUPS; i++) {
            body.run();
        }
        double[] seconds = new double[REPEATS];
        for (int i = 0; i < REPEATS; i++) {
            long start = System.nanoTime();
            body.run();
            seconds[i] = (System.nanoTime() - start) * 1e-9;
        }
        Arrays.sort(seconds);
        return seconds;
    }

    private static void putTimes(Map<String, Object> into, double[] sortedSeconds, double flops) {
        double median = sortedSeconds[sortedSeconds.length / 2];
        Map<String, Object> t = new LinkedHashMap<>();
        t.put("median", median);
        t.put("min", sortedSeconds[0]);
        t.put("max", sortedSeconds[sortedSeconds.length - 1]);
        into.put("seconds", t);
        into.put("gflops", flops / Math.max(median, 1e-12) / 1e9);
    }

    // ---------------------------------------------------------------- text

    @SuppressWarnings("unchecked")
    private static String text(Map<String, Object> r) {
        StringBuilder sb = new StringBuilder();
        Map<String, Object> java = (Map<String, Object>) r.get("java");
        Map<String, Object> os = (Map<String, Object>) r.get("os");
        Map<String, Object> ort = (Map<String, Object>) r.get("onnxruntime");
        line(sb, "onnx-fuse", r.get("onnxFuse"));
        line(sb, "java", java.get("version") + " (" + java.get("vendor") + "), " + java.get("vm"));
        line(sb, "os", os.get("name") + " " + os.get("version") + " " + os.get("arch"));
        line(sb, "processors", r.get("processors"));
        line(sb, "max heap", mib((Long) r.get("maxHeapBytes")));
        if (r.containsKey("physicalMemoryBytes")) {
            line(sb, "memory", mib((Long) r.get("physicalMemoryBytes")));
        }
        if (ort.containsKey("version")) {
            line(sb, "onnxruntime", ort.get("version") + ", providers " + ort.get("providers"));
        } else {
            line(sb, "onnxruntime", "not loadable: " + ort.get("error"));
        }
        sb.append("backends:\n");
        for (String b : (List<String>) r.get("backends")) {
            sb.append("  ").append(b).append('\n');
        }
        Map<String, Object> bench = (Map<String, Object>) r.get("bench");
        if (bench != null) {
            sb.append(String.format(Locale.ROOT, "benchmark: %s; float64; median of %d after %d warm-up%n",
                    bench.get("description"), REPEATS, WARMUPS));
            if (bench.containsKey("note")) {
                sb.append("  note: ").append(bench.get("note")).append('\n');
            }
            Map<String, Object> gemm = (Map<String, Object>) bench.get("gemm");
            sb.append(String.format(Locale.ROOT, "  %-58s %9.1f ms %8.1f GFLOP/s%n",
                    "gemm " + gemm.get("m") + "x" + gemm.get("n") + "x" + gemm.get("k"), millis(gemm),
                    (Double) gemm.get("gflops")));
            for (Map<String, Object> s : (List<Map<String, Object>>) bench.get("statistics")) {
                String what = "statistics d=" + s.get("d") + " m=" + s.get("m") + " M=" + s.get("rows") + " (batches of "
                        + s.get("batchRows") + ")";
                sb.append(String.format(Locale.ROOT, "  %-58s %9.1f ms %8.1f GFLOP/s  %.2f x gemm%n", what,
                        millis(s), (Double) s.get("gflops"), (Double) s.get("ratioToGemm")));
            }
        }
        return sb.toString();
    }

    @SuppressWarnings("unchecked")
    private static double millis(Map<String, Object> m) {
        return 1000 * (Double) ((Map<String, Object>) m.get("seconds")).get("median");
    }

    private static void line(StringBuilder sb, String key, Object value) {
        sb.append(String.format(Locale.ROOT, "%-12s %s%n", key + ":", value));
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%d MiB", bytes >> 20);
    }

    /**
     * What {@code onnx-fuse --version} prints (its static version or its version provider), so the
     * two never disagree.
     */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return CommandSpec.forAnnotatedObject(FuseCommand.class).version();
        }
    }

    /** "0.1.0-SNAPSHOT" from "onnx-fuse 0.1.0-SNAPSHOT". */
    private static String toolVersion() {
        String v = String.join(" ", new Version().getVersion()).trim();
        return v.startsWith("onnx-fuse ") ? v.substring("onnx-fuse ".length()) : v;
    }
}
