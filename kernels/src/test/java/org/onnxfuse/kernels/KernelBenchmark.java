package org.onnxfuse.kernels;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import jcuda.Pointer;
import jcuda.driver.CUevent;
import jcuda.driver.JCudaDriver;

/**
 * The device benchmark of {@code native/device-check.sh}: each kernel's rate against two ceilings
 * measured in the same process on the same card, a device-to-device copy (bytes read + written)
 * and our own float64 matrix product (gemm.cu, the ceiling for the float64 kernels). Times are
 * medians of device-event timings after a warm-up; inputs are fresh random numbers, never zeros.
 * The host-API rows (upload, kernels, download) also time the CPU backend on the same inputs.
 *
 * <p>Usage: {@code KernelBenchmark [OUTPUT_DIR] [--quick]}; writes {@code kernels.md} and
 * {@code kernels.json} there and prints the table. {@code --quick} shrinks every size (for a
 * check that the harness runs, not for numbers).
 */
public final class KernelBenchmark {
    private static final int REPEATS = 7;

    private final CudaBackend cuda;
    private final CpuBackend cpu;
    private final boolean quick;
    private final SplittableRandom random = new SplittableRandom(20261204);
    private final List<Row> rows = new ArrayList<>();
    private double copyCeiling;
    private double gemmCeiling;

    private KernelBenchmark(CudaBackend cuda, CpuBackend cpu, boolean quick) {
        this.cuda = cuda;
        this.cpu = cpu;
        this.quick = quick;
    }

    record Row(String name, String size, double medianMs, double spreadMs, String rate, String ofCeiling,
               String cpuMs) {
    }

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args.length > 0 && !args[0].startsWith("--") ? args[0] : ".");
        boolean quick = Arrays.asList(args).contains("--quick");
        CudaStatus status = Backends.cudaStatus();
        if (!status.available()) {
            System.err.println("KernelBenchmark: no usable GPU here (" + status.detail() + "); nothing measured");
            System.exit(3);
        }
        try (ComputeBackend c = Backends.open("cuda", 0); CpuBackend host = new CpuBackend(Backends.defaultThreads())) {
            KernelBenchmark bench = new KernelBenchmark((CudaBackend) c, host, quick);
            bench.runAll();
            bench.write(out, c.description());
        }
    }

    private void runAll() {
        copyCeiling();
        gemmCeiling();
        int[][] statistics = quick ? new int[][] {{2048, 256, 128}, {2048, 64, 64}}
                : new int[][] {{16384, 2304, 1024}, {65536, 785, 512}};
        for (int[] s : statistics) {
            guarded(rows, "statistics kernels", () -> statistics(s[0], s[1], s[2]));
        }
        guarded(rows, "statistics, host API", () -> statisticsHostApi(statistics[0][0], statistics[0][1],
                statistics[0][2]));
        int[][] kmeans = quick ? new int[][] {{256, 64}} : new int[][] {{8192, 4096}, {2048, 512}};
        for (int[] s : kmeans) {
            guarded(rows, "k-means", () -> kmeans(s[0], s[1]));
        }
        int[][] restarts = quick ? new int[][] {{256, 64, 4}} : new int[][] {{2048, 512, 10}, {8192, 1024, 10}};
        for (int[] s : restarts) {
            guarded(rows, "k-means restarts", () -> kmeansRestarts(s[0], s[1], s[2]));
        }
        for (int n : quick ? new int[] {4096} : new int[] {785 * 256, 1 << 24}) {
            guarded(rows, "optimiser steps", () -> optimizerSteps(n));
        }
        int[][] solves = quick ? new int[][] {{256, 64}, {100, 10}} : new int[][] {{4096, 1024}, {785, 512}};
        for (int[] s : solves) {
            guarded(rows, "cholesky solve", () -> cholesky(s[0], s[1]));
        }
        guarded(rows, "batched cholesky", () -> batchedCholesky(quick ? 64 : 2048, 10));
    }

    /** Device-to-device copy of a large buffer: bytes read plus bytes written per second. */
    private void copyCeiling() {
        long bytes = quick ? 64L << 20 : 2L << 30;
        cuda.makeCurrent();
        try (DeviceBuffer from = new DeviceBuffer(bytes); DeviceBuffer to = new DeviceBuffer(bytes)) {
            JCudaDriver.cuMemsetD32(from.pointer(), 0x3f800001, bytes / 4);
            double[] ms = time(() -> JCudaDriver.cuMemcpyDtoD(to.pointer(), from.pointer(), bytes));
            double median = median(ms);
            copyCeiling = 2.0 * bytes / (median * 1e-3);
            rows.add(new Row("copy ceiling (device to device)", bytes / (1 << 20) + " MiB", median, spread(ms),
                    gbps(copyCeiling), "100 %", "-"));
        }
    }

    /** Our float64 tiled product (gemm.cu) on n x n x n: the ceiling for float64 arithmetic here. */
    private void gemmCeiling() {
        int n = quick ? 512 : 8192;
        cuda.makeCurrent();
        double[] a = randomArray((long) n * n);
        double[] b = randomArray((long) n * n);
        try (DeviceBuffer da = DeviceBuffer.upload(a); DeviceBuffer db = DeviceBuffer.upload(b);
             DeviceBuffer dc = new DeviceBuffer(8L * n * n)) {
            Pointer params = Pointer.to(
                    Pointer.to(new int[] {0}), Pointer.to(new int[] {0}),
                    Pointer.to(new int[] {n}), Pointer.to(new int[] {n}), Pointer.to(new int[] {n}),
                    Pointer.to(new double[] {1.0}),
                    Pointer.to(da.pointer()), Pointer.to(new int[] {n}),
                    Pointer.to(db.pointer()), Pointer.to(new int[] {n}),
                    Pointer.to(new double[] {0.0}),
                    Pointer.to(dc.pointer()), Pointer.to(new int[] {n}));
            int grid = CudaBackend.ceilDiv(n, SlicePlan.TILE);
            double[] ms = time(() -> cuda.launch(cuda.gemmKernel, grid, grid, 1, params));
            double median = median(ms);
            gemmCeiling = 2.0 * n * n * (double) n / (median * 1e-3);
            rows.add(new Row("float64 gemm ceiling (gemm.cu)", n + "^3", median, spread(ms), tflops(gemmCeiling),
                    "100 %", "-"));
        }
    }

    /** The statistics kernels alone on samples already on the device (statistics.cu). */
    private void statistics(int samples, int d, int m) {
        float[] x = randomFloats((long) samples * d);
        float[] a = randomFloats((long) samples * m);
        try (CudaStatisticsAccumulator acc = (CudaStatisticsAccumulator) cuda.openStatistics(d, m)) {
            int staged = Math.min(samples, Math.max(1, CudaStatisticsAccumulator.BUFFER_ELEMENTS / Math.max(d, m)));
            acc.stage(x, a, staged);
            double[] ms;
            synchronized (cuda) {
                cuda.makeCurrent();
                ms = time(() -> acc.accumulateStaged(staged));
            }
            double flops = statisticsFlops(staged, d, m);
            double median = median(ms);
            rows.add(new Row("statistics kernels (X^T X, X^T A, A^T A)", staged + " x (" + d + ", " + m + ")",
                    median, spread(ms), tflops(flops / (median * 1e-3)),
                    percent(flops / (median * 1e-3) / gemmCeiling), "-"));
        }
    }

    /**
     * reset() + accumulate() + statistics() through the public API (uploads and download included,
     * in batches of 256 samples as the collector sends them), CUDA vs CPU backend; one accumulator
     * each, opened before the timing as the collector opens one per level.
     */
    private void statisticsHostApi(int samples, int d, int m) {
        int batch = 256;
        List<float[]> xs = new ArrayList<>();
        List<float[]> as = new ArrayList<>();
        for (int start = 0; start < samples; start += batch) {
            int rows = Math.min(batch, samples - start);
            xs.add(randomFloats((long) rows * d));
            as.add(randomFloats((long) rows * m));
        }
        double[] gpu;
        double[] host;
        try (StatisticsAccumulator onGpu = cuda.openStatistics(d, m);
             StatisticsAccumulator onCpu = cpu.openStatistics(d, m)) {
            gpu = time(() -> feed(onGpu, xs, as));
            host = timeHost(() -> feed(onCpu, xs, as));
        }
        double flops = statisticsFlops(samples, d, m);
        rows.add(new Row("statistics, host API (256-sample batches, upload + download)", samples + " x (" + d + ", " + m + ")",
                median(gpu), spread(gpu), tflops(flops / (median(gpu) * 1e-3)), "-",
                String.format(Locale.ROOT, "%.1f (%.1fx)", median(host), median(host) / median(gpu))));
    }

    /** choleskySolve (S + ridge I) W = B through the public API, CUDA vs CPU backend. */
    private void cholesky(int n, int k) {
        DenseMatrix s = spd(n);
        DenseMatrix b = new DenseMatrix(n, k, randomArray((long) n * k));
        double[] gpu = time(() -> cuda.choleskySolve(s, b, 1e-6));
        double[] host = timeHost(() -> cpu.choleskySolve(s, b, 1e-6));
        DenseMatrix wGpu = cuda.choleskySolve(s, b, 1e-6);
        DenseMatrix wCpu = cpu.choleskySolve(s, b, 1e-6);
        double flops = (double) n * n * n / 3.0 + 2.0 * n * (double) n * k;
        rows.add(new Row("cholesky solve, host API (rel. diff " + String.format(Locale.ROOT, "%.1e",
                Reference.relativeFrobeniusError(wGpu, wCpu)) + ")", "n " + n + ", k " + k, median(gpu), spread(gpu),
                tflops(flops / (median(gpu) * 1e-3)), "-",
                String.format(Locale.ROOT, "%.1f (%.1fx)", median(host), median(host) / median(gpu))));
    }

    /**
     * One Lloyd step of the Gram-form K-means (kmeans.cu) on m neurons and k groups of two members,
     * CUDA vs CPU backend on the same inputs; the bytes counted are C read once and the m x k
     * distance table written and read once, against the copy ceiling. Also checks that both
     * backends return the same assignment.
     */
    private void kmeans(int m, int k) {
        GramProblem p = gramProblem(m);
        double[] gram = p.gram();
        double[] cross = p.cross();
        double[] norms = p.norms();
        int[] owner = new int[m];
        double[] weight = new double[m];
        for (int i = 0; i < m; i++) {
            owner[i] = i % k;
            weight[i] = 1.0 / Math.max(1, (m - i % k + k - 1) / k);
        }
        try (GramKMeans onGpu = cuda.openGramKMeans(cross, gram, norms, m);
             GramKMeans onCpu = cpu.openGramKMeans(cross, gram, norms, m)) {
            double[] gpu = time(() -> onGpu.step(k, owner, weight, owner));
            double[] host = timeHost(() -> onCpu.step(k, owner, weight, owner));
            boolean same = java.util.Arrays.equals(onGpu.step(k, owner, weight, owner).next(),
                    onCpu.step(k, owner, weight, owner).next());
            double bytes = 8.0 * ((double) m * m + 2.0 * m * k);
            rows.add(new Row("k-means Lloyd step (same assignment as CPU: " + same + ")", "m " + m + ", k " + k,
                    median(gpu), spread(gpu), gbps(bytes / (median(gpu) * 1e-3)),
                    percent(bytes / (median(gpu) * 1e-3) / copyCeiling),
                    String.format(Locale.ROOT, "%.1f (%.1fx)", median(host), median(host) / median(gpu))));
        }
    }

    /** A K-means problem on m neurons from 64 random factors: G = F^T F, C a copy of G, t_i = G_ii + U(0, 1). */
    private GramProblem gramProblem(int m) {
        DenseMatrix factors = new DenseMatrix(64, m, randomArray(64L * m));
        double[] gram = cpu.gemm(Transpose.YES, Transpose.NO, 1.0, factors, factors, 0.0, null).toColumnMajor();
        double[] norms = new double[m];
        for (int i = 0; i < m; i++) {
            norms[i] = gram[i + i * m] + random.nextDouble(0.0, 1.0);
        }
        return new GramProblem(m, gram.clone(), gram, norms);
    }

    /**
     * R restarts of the Gram-form K-means on m neurons and k groups, as the grouping runs them on the
     * device: farthest-first seeding and one Lloyd step for all R in one batch (each kernel launched
     * once, restart in grid z) against the same R restarts one after another on the device and on
     * the CPU backend. The CPU gets a fresh K-means per timed run, so each step sums every column of
     * C U as a restart's first steps do (its later steps re-sum only the groups that changed).
     * Checks that all three give the same seeds and assignments.
     */
    private void kmeansRestarts(int m, int k, int restarts) {
        GramProblem p = gramProblem(m);
        double[] gram = p.gram();
        double[] cross = p.cross();
        double[] norms = p.norms();
        int[] ids = new int[restarts];
        int[] firsts = new int[restarts];
        int[][] owners = new int[restarts][m];
        double[][] weights = new double[restarts][m];
        for (int r = 0; r < restarts; r++) {
            ids[r] = r;
            firsts[r] = random.nextInt(m);
            int[] size = new int[k];
            for (int i = 0; i < m; i++) {
                owners[r][i] = (i + 7 * r) % k;
                size[owners[r][i]]++;
            }
            for (int i = 0; i < m; i++) {
                weights[r][i] = 1.0 / size[owners[r][i]];
            }
        }
        String size = "m " + m + ", k " + k + ", " + restarts + " restarts";
        try (GramKMeans onGpu = cuda.openGramKMeans(cross, gram, norms, m)) {
            double[] seedsBatched = time(() -> onGpu.farthestFirst(firsts, k));
            double[] seedsOneByOne = time(() -> {
                for (int first : firsts) {
                    onGpu.farthestFirst(first, k);
                }
            });
            double[] seedsCpu = timeHost(() -> {
                try (GramKMeans onCpu = cpu.openGramKMeans(cross, gram, norms, m)) {
                    onCpu.farthestFirst(firsts, k);
                }
            });
            double[] stepBatched = time(() -> onGpu.steps(k, ids, owners, weights, owners));
            double[] stepOneByOne = time(() -> {
                for (int r = 0; r < restarts; r++) {
                    onGpu.step(k, owners[r], weights[r], owners[r]);
                }
            });
            double[] stepCpu = timeHost(() -> {
                try (GramKMeans onCpu = cpu.openGramKMeans(cross, gram, norms, m)) {
                    onCpu.steps(k, ids, owners, weights, owners);
                }
            });
            boolean same;
            try (GramKMeans onCpu = cpu.openGramKMeans(cross, gram, norms, m)) {
                int[][] seeds = onGpu.farthestFirst(firsts, k);
                GramKMeans.Step[] batched = onGpu.steps(k, ids, owners, weights, owners);
                GramKMeans.Step[] host = onCpu.steps(k, ids, owners, weights, owners);
                same = Arrays.deepEquals(seeds, onCpu.farthestFirst(firsts, k));
                for (int r = 0; r < restarts; r++) {
                    same &= Arrays.equals(seeds[r], onGpu.farthestFirst(firsts[r], k))
                            && Arrays.equals(batched[r].next(), host[r].next())
                            && Arrays.equals(batched[r].nextSquaredDistance(), host[r].nextSquaredDistance())
                            && Arrays.equals(batched[r].next(), onGpu.step(k, owners[r], weights[r], owners[r]).next());
                }
            }
            double bytes = restarts * 8.0 * ((double) m * m + 2.0 * m * k);
            rows.add(new Row("k-means farthest-first, restarts in one batch (same seeds as CPU and one by one: " + same
                    + "; batch speed-up " + ratio(seedsOneByOne, seedsBatched) + ")", size, median(seedsBatched),
                    spread(seedsBatched), "-", "-", cpuColumn(seedsCpu, seedsBatched)));
            rows.add(new Row("k-means farthest-first, restarts one after another on the device", size,
                    median(seedsOneByOne), spread(seedsOneByOne), "-", "-", cpuColumn(seedsCpu, seedsOneByOne)));
            rows.add(new Row("k-means Lloyd step, restarts in one batch (same as CPU and one by one: " + same
                    + "; batch speed-up " + ratio(stepOneByOne, stepBatched) + ")", size, median(stepBatched),
                    spread(stepBatched), gbps(bytes / (median(stepBatched) * 1e-3)),
                    percent(bytes / (median(stepBatched) * 1e-3) / copyCeiling), cpuColumn(stepCpu, stepBatched)));
            rows.add(new Row("k-means Lloyd step, restarts one after another on the device", size,
                    median(stepOneByOne), spread(stepOneByOne), gbps(bytes / (median(stepOneByOne) * 1e-3)),
                    percent(bytes / (median(stepOneByOne) * 1e-3) / copyCeiling), cpuColumn(stepCpu, stepOneByOne)));
        }
    }

    /**
     * Adam and SGD (momentum 0.9, Nesterov, L2 decay) on n float32 values: through the backend API
     * (the host's buffers uploaded and downloaded each step: 28 and 20 bytes per value) against the
     * CPU backend's loop, and the kernels alone on buffers already on the device (bytes read and
     * written against the copy ceiling). Checks that device and host give the same bits.
     */
    private void optimizerSteps(int n) {
        float[] p = randomFloats(n);
        float[] g = randomFloats(n);
        float[] m1 = randomFloats(n);
        float[] m2 = new float[n];
        for (int i = 0; i < n; i++) {
            m2[i] = m1[i] * m1[i];
        }
        AdamStep adam = new AdamStep(0.9, 0.999, 1e-8, 1e-4, 1, 1e-3 / (1 - 0.9), Math.sqrt(1 - 0.999));
        SgdStep sgd = new SgdStep(0.9, true, 1e-4, 1, 1e-3);
        float[][] host = {p.clone(), m1.clone(), m2.clone()};
        float[][] device = {p.clone(), m1.clone(), m2.clone()};
        cpu.adamStep(host[0], g, host[1], host[2], adam);
        cuda.adamStep(device[0], g, device[1], device[2], adam);
        cpu.sgdStep(host[0], g, host[1], sgd);
        cuda.sgdStep(device[0], g, device[1], sgd);
        boolean same = Arrays.deepEquals(host, device);
        double[] adamApi = time(() -> cuda.adamStep(p, g, m1, m2, adam));
        double[] adamCpu = timeHost(() -> cpu.adamStep(p, g, m1, m2, adam));
        double[] sgdApi = time(() -> cuda.sgdStep(p, g, m1, sgd));
        double[] sgdCpu = timeHost(() -> cpu.sgdStep(p, g, m1, sgd));
        double[] adamKernel;
        double[] sgdKernel;
        synchronized (cuda) {
            cuda.makeCurrent();
            try (DeviceBuffer dp = DeviceBuffer.upload(p); DeviceBuffer dg = DeviceBuffer.upload(g);
                 DeviceBuffer d1 = DeviceBuffer.upload(m1); DeviceBuffer d2 = DeviceBuffer.upload(m2)) {
                adamKernel = time(() -> cuda.adamStepOnDevice(dp, dg, d1, d2, n, adam));
                sgdKernel = time(() -> cuda.sgdStepOnDevice(dp, dg, d1, n, sgd));
            }
        }
        String size = n + " values";
        rows.add(new Row("adam step, host API (same bits as CPU, Adam then SGD: " + same + ")", size, median(adamApi),
                spread(adamApi), gbps(28.0 * n / (median(adamApi) * 1e-3)), "-", cpuColumn(adamCpu, adamApi)));
        rows.add(new Row("adam step, kernel only (buffers on the device)", size, median(adamKernel),
                spread(adamKernel), gbps(28.0 * n / (median(adamKernel) * 1e-3)),
                percent(28.0 * n / (median(adamKernel) * 1e-3) / copyCeiling), cpuColumn(adamCpu, adamKernel)));
        rows.add(new Row("sgd step (momentum, Nesterov), host API", size, median(sgdApi), spread(sgdApi),
                gbps(20.0 * n / (median(sgdApi) * 1e-3)), "-", cpuColumn(sgdCpu, sgdApi)));
        rows.add(new Row("sgd step (momentum, Nesterov), kernel only (buffers on the device)", size,
                median(sgdKernel), spread(sgdKernel), gbps(20.0 * n / (median(sgdKernel) * 1e-3)),
                percent(20.0 * n / (median(sgdKernel) * 1e-3) / copyCeiling), cpuColumn(sgdCpu, sgdKernel)));
    }

    /** "CPU ms (CPU over device x)". */
    private static String cpuColumn(double[] host, double[] device) {
        return String.format(Locale.ROOT, "%.1f (%.1fx)", median(host), median(host) / median(device));
    }

    private static String ratio(double[] slower, double[] faster) {
        return String.format(Locale.ROOT, "%.1fx", median(slower) / median(faster));
    }

    private static void feed(StatisticsAccumulator acc, List<float[]> xs, List<float[]> as) {
        acc.reset();
        for (int b = 0; b < xs.size(); b++) {
            acc.accumulate(xs.get(b), as.get(b));
        }
        acc.statistics();
    }

    /** choleskySolveAll of {@code count} systems of order n with one right-hand side (a depthwise level). */
    private void batchedCholesky(int count, int n) {
        List<DenseMatrix> systems = new ArrayList<>();
        List<DenseMatrix> sides = new ArrayList<>();
        double[] ridges = new double[count];
        for (int i = 0; i < count; i++) {
            systems.add(spd(n));
            sides.add(new DenseMatrix(n, 1, randomArray(n)));
            ridges[i] = 1e-6;
        }
        double[] gpu = time(() -> cuda.choleskySolveAll(systems, sides, ridges));
        double[] host = timeHost(() -> cpu.choleskySolveAll(systems, sides, ridges));
        List<DenseMatrix> onGpu = cuda.choleskySolveAll(systems, sides, ridges);
        List<DenseMatrix> onCpu = cpu.choleskySolveAll(systems, sides, ridges);
        double worst = 0;
        for (int i = 0; i < count; i++) {
            worst = Math.max(worst, Reference.relativeFrobeniusError(onGpu.get(i), onCpu.get(i)));
        }
        double flops = count * ((double) n * n * n / 3.0 + 2.0 * n * n);
        rows.add(new Row("batched cholesky, host API (worst rel. diff " + String.format(Locale.ROOT, "%.1e", worst)
                + ")", count + " systems, n " + n, median(gpu), spread(gpu), tflops(flops / (median(gpu) * 1e-3)), "-",
                String.format(Locale.ROOT, "%.1f (%.1fx)", median(host), median(host) / median(gpu))));
    }

    private static double statisticsFlops(long samples, long d, long m) {
        return 2.0 * samples * (d * (d + 1) / 2.0 + (double) d * m + m * (m + 1) / 2.0);
    }

    /** Device-event times in ms of {@link #REPEATS} runs after two warm-ups; syncs after each. */
    private double[] time(Runnable work) {
        synchronized (cuda) {
            cuda.makeCurrent();
            CUevent start = new CUevent();
            CUevent stop = new CUevent();
            JCudaDriver.cuEventCreate(start, 0);
            JCudaDriver.cuEventCreate(stop, 0);
            try {
                work.run();
                work.run();
                double[] ms = new double[REPEATS];
                float[] elapsed = new float[1];
                for (int r = 0; r < REPEATS; r++) {
                    cuda.makeCurrent();
                    JCudaDriver.cuEventRecord(start, null);
                    work.run();
                    cuda.makeCurrent();
                    JCudaDriver.cuEventRecord(stop, null);
                    JCudaDriver.cuEventSynchronize(stop);
                    JCudaDriver.cuEventElapsedTime(elapsed, start, stop);
                    ms[r] = elapsed[0];
                }
                return ms;
            } finally {
                JCudaDriver.cuEventDestroy(start);
                JCudaDriver.cuEventDestroy(stop);
            }
        }
    }

    private static double[] timeHost(Runnable work) {
        work.run();
        double[] ms = new double[Math.max(3, REPEATS / 2)];
        for (int r = 0; r < ms.length; r++) {
            long t0 = System.nanoTime();
            work.run();
            ms[r] = (System.nanoTime() - t0) / 1e6;
        }
        return ms;
    }

    private DenseMatrix spd(int n) {
        int inner = n + 16;
        DenseMatrix m = new DenseMatrix(inner, n, randomArray((long) inner * n));
        return cpu.gemm(Transpose.YES, Transpose.NO, 1.0, m, m, 0.0, null);
    }

    private double[] randomArray(long n) {
        double[] v = new double[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = random.nextDouble(-1.0, 1.0);
        }
        return v;
    }

    private float[] randomFloats(long n) {
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextDouble(-1.0, 1.0);
        }
        return v;
    }

    static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : 0.5 * (v[v.length / 2 - 1] + v[v.length / 2]);
    }

    static double spread(double[] values) {
        return Arrays.stream(values).max().orElse(0) - Arrays.stream(values).min().orElse(0);
    }

    private static String gbps(double bytesPerSecond) {
        return String.format(Locale.ROOT, "%.0f GB/s", bytesPerSecond / 1e9);
    }

    private static String tflops(double flopsPerSecond) {
        return String.format(Locale.ROOT, "%.2f TFLOP/s", flopsPerSecond / 1e12);
    }

    private static String percent(double fraction) {
        return String.format(Locale.ROOT, "%.0f %%", 100 * fraction);
    }

    /** Runs {@code check}; a failing measurement becomes a row saying so instead of ending the run. */
    static void guarded(List<Row> rows, String name, Runnable check) {
        try {
            check.run();
        } catch (RuntimeException e) {
            rows.add(new Row(name + " FAILED: " + e.getMessage(), "-", Double.NaN, Double.NaN, "-", "-", "-"));
        }
    }

    private void write(Path out, String device) throws IOException {
        Files.createDirectories(out);
        StringBuilder md = new StringBuilder();
        md.append("device: ").append(device).append("\n\n");
        md.append("| kernel | size | median ms (spread) | rate | of ceiling | CPU backend ms (CUDA speed-up) |\n");
        md.append("|---|---|---|---|---|---|\n");
        for (Row r : rows) {
            md.append(String.format(Locale.ROOT, "| %s | %s | %.3f (%.3f) | %s | %s | %s |%n", r.name(), r.size(),
                    r.medianMs(), r.spreadMs(), r.rate(), r.ofCeiling(), r.cpuMs()));
        }
        Files.writeString(out.resolve("kernels.md"), md.toString(), StandardCharsets.UTF_8);
        StringBuilder json = new StringBuilder("{\"device\": ").append(quote(device)).append(", \"rows\": [\n");
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            Map<String, String> fields = new LinkedHashMap<>();
            fields.put("name", quote(r.name()));
            fields.put("size", quote(r.size()));
            fields.put("median_ms", Double.isNaN(r.medianMs()) ? "null" : Double.toString(r.medianMs()));
            fields.put("spread_ms", Double.isNaN(r.spreadMs()) ? "null" : Double.toString(r.spreadMs()));
            fields.put("rate", quote(r.rate()));
            fields.put("of_ceiling", quote(r.ofCeiling()));
            fields.put("cpu_ms", quote(r.cpuMs()));
            json.append("  {");
            int f = 0;
            for (Map.Entry<String, String> e : fields.entrySet()) {
                json.append(f++ == 0 ? "" : ", ").append('"').append(e.getKey()).append("\": ").append(e.getValue());
            }
            json.append(i + 1 < rows.size() ? "},\n" : "}\n");
        }
        json.append("]}\n");
        Files.writeString(out.resolve("kernels.json"), json.toString(), StandardCharsets.UTF_8);
        PrintStream o = System.out;
        o.print(md);
    }

    private static String quote(String s) {
        return '"' + s.replace("\\", "\\\\").replace("\"", "\\\"") + '"';
    }
}
