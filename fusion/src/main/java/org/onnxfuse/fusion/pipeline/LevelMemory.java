package org.onnxfuse.fusion.pipeline;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.LongPredicate;
import org.onnxfuse.fusion.group.GroupingForm;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * What one level of the linear variant holds at its peak, in bytes, from the plan alone (the
 * sample count does not enter: the statistics are sums). Counted as the code allocates them:
 * <ul>
 *   <li>statistics: S_xx (d x d), S_xa (d x m) and S_aa (m x m, or its diagonal in the factor
 *       form) in native memory, and the same again as Java arrays once read out, all float64 (the
 *       collector closes the accumulator right after the read-out, so the solve and the grouping
 *       see only the Java copy: counting both over-counts their peak by one copy, which this
 *       estimate keeps as part of its margin below the measured need);</li>
 *   <li>collection: a block of up to 2048 widened rows of X and A (float64, native) and one ONNX
 *       Runtime batch of rows as float32 (rows = batch x the cut's positions);</li>
 *   <li>least squares: the factor (d x d), the right-hand sides and the solution (d x m), each on
 *       the heap and copied to native memory for LAPACK, and the parents' weights as the ridge's
 *       centre (d x m);</li>
 *   <li>grouping: in Gram form C and G (m x m each) and the product they are made from, or in
 *       factor form the centroids' weights and their products (d x k, m x k and a neuron block);</li>
 *   <li>models: the parents' initializers as the reader holds them (the file's bytes, which
 *       {@code raw_data} aliases; external data is read on demand and left out), and the fused
 *       copy's weights written for the levels before this one (float32, d x k each);</li>
 *   <li>runtime: a fixed {@value #RUNTIME_MIB} MiB for what the JVM, picocli, protobuf and ONNX
 *       Runtime's Java side keep on the heap.</li>
 * </ul>
 * JavaCPP counts its native memory against the same limit as the heap by default, so the sum is
 * checked against the heap. The frontier cache and the gradient variant's training rows take
 * their own quarter of the heap each, and are left out.
 *
 * <p>Measured on the 8 MLP parents {@code mlp_k8_p*.onnx} with 5000 samples (kf-linear, 2 shared
 * cores; the smallest -Xmx that fuses, searched in steps of 10 MB): 160 MiB fuses; 150 MiB ran out
 * of heap in four runs of five, 140 MiB in every run. Level 1's estimate at that heap was 114 MiB
 * without the models and runtime terms and is 128 MiB with them (models 6 MiB, runtime 8 MiB),
 * so the check refuses below 128 MiB and never refuses a heap that fuses. On the 2 parents
 * {@code mlp_k2_p*.onnx} with the same data: 70 MiB fuses, 65 and 60 MiB ran out; the estimate
 * was 54 MiB and is 64 MiB (models 2 MiB, runtime 8 MiB). The remaining gap is mostly the
 * frontier cache, which fills its quarter of the heap (40 MiB at 160 MiB; it spills to disk past
 * that, so it is not a fixed need), and the garbage collector's headroom for the level's large
 * arrays; the statistics' native copy (freed before the solve) and the least
 * squares' native copies, counted here, are not on the heap and offset part of it. A heap between
 * the estimate and the measured need still runs out during the level, with exit 61 as well.
 *
 * @param level      1-based index
 * @param fanIn      d
 * @param neurons    m, all parents' neurons
 * @param width      k, the fused width
 * @param gramForm   whether the level is grouped in Gram form (m x m matrices)
 */
public record LevelMemory(int level, long fanIn, long neurons, long width, boolean gramForm, long statistics,
                          long collection, long leastSquares, long grouping, long models, long runtime) {
    /** Widened rows per BLAS block in the CPU statistics (kernels' CpuStatisticsAccumulator.MAX_BLOCK_ROWS). */
    static final long BLOCK_ROWS = 2048;
    /** Neurons per block of the factor form's cross table. */
    static final long NEURON_BLOCK = 1024;
    /**
     * The heap a fusion holds besides its models and levels: 5.9 MB measured live (class histogram)
     * after the 8 MLP parents were loaded and scored, less their bytes; rounded up.
     */
    static final int RUNTIME_MIB = 8;

    /** The peak: everything above held at once (the statistics stay alive while the level is solved and grouped). */
    public long bytes() {
        return statistics + collection + leastSquares + grouping + models + runtime;
    }

    /**
     * The estimate for a level of d inputs, m neurons of all parents and fused width k, with
     * {@code models} bytes of parents and fused copy on the heap.
     */
    public static LevelMemory of(int level, long d, long m, long k, long batchRows, boolean gramForm, long models) {
        long aa = gramForm ? m * m : m;
        long statistics = 2 * 8 * (d * d + d * m + aa);
        long collection = 8 * Math.min(BLOCK_ROWS, Math.max(1, batchRows)) * (d + m) + 4 * batchRows * (d + m);
        long leastSquares = 8 * (2 * d * d + 3 * d * m) + 8 * d * m;
        long grouping = gramForm ? 8 * (3 * m * m + d * m) : 8 * (2 * d * k + 2 * m * k + NEURON_BLOCK * k);
        return new LevelMemory(level, d, m, k, gramForm, statistics, collection, leastSquares, grouping, models,
                (long) RUNTIME_MIB << 20);
    }

    /**
     * Every level of {@code plans} (one per parent; template first) whose models hold
     * {@code parentBytes} on the heap together ({@link #heldBytes}), fused at {@code widths} (one per
     * level; null for the template's) with {@code batch} samples per ONNX Runtime run, grouped in
     * the Gram form where {@code gramForm} says so for the level's neuron count.
     */
    public static List<LevelMemory> of(List<LevelPlan> plans, long parentBytes, int[] widths, int batch,
                                       LongPredicate gramForm) {
        int[] k = widths != null ? widths
                : plans.get(0).levels().stream().mapToInt(l -> Math.toIntExact(l.width())).toArray();
        List<LevelMemory> out = new ArrayList<>();
        long fusedWeights = 0;
        for (LevelWork w : LevelWork.of(plans, k)) {
            out.add(of(w.level(), w.fanIn(), w.neurons(), w.width(), (long) batch * w.rowsPerSample(),
                    gramForm.test(w.neurons()), parentBytes + fusedWeights));
            fusedWeights += 4 * w.fanIn() * w.width();
        }
        return List.copyOf(out);
    }

    /** The bytes of {@code model}'s initializers that are held in memory (external data is read on demand). */
    public static long heldBytes(Model model) {
        long total = 0;
        for (Tensor t : model.graph().initializers().values()) {
            if (t.data() != null && t.data().inMemory()) {
                total += t.data().byteLength();
            }
        }
        return total;
    }

    /** Where {@code form} groups a level of m neurons in Gram form with this heap ({@link GroupingForm#resolve}). */
    public static LongPredicate gramForm(GroupingForm form, long maxHeapBytes) {
        return m -> form.resolve(Math.toIntExact(Math.min(m, Integer.MAX_VALUE)), maxHeapBytes) == GroupingForm.GRAM;
    }

    /** {@link #gramForm} for the default, {@link GroupingForm#AUTO}. */
    public static LongPredicate gramFormWithin(long maxHeapBytes) {
        return gramForm(GroupingForm.AUTO, maxHeapBytes);
    }

    /**
     * Refuses, before any work, a fusion whose largest level needs more than {@code maxHeapBytes},
     * naming the level, what it needs and what to change.
     */
    public static void requireFits(List<LevelMemory> levels, long maxHeapBytes, int parents) {
        LevelMemory largest = null;
        for (LevelMemory l : levels) {
            if (largest == null || l.bytes() > largest.bytes()) {
                largest = l;
            }
        }
        if (largest != null && largest.bytes() > maxHeapBytes) {
            throw new OnnxFuseException(ErrorCode.NOT_ENOUGH_MEMORY, "level " + largest.level() + " (fan-in "
                    + largest.fanIn() + ", " + largest.neurons() + " neurons of " + parents + " parents) needs about "
                    + largest.describe() + " but the Java heap holds at most " + size(maxHeapBytes)
                    + "; expected a heap above that: run java -Xmx" + ((largest.bytes() >> 30) + 2)
                    + "g -jar onnx-fuse.jar ..., or fuse fewer parents, or give that level a narrower --width"
                    + " (onnx-fuse plan lists every level's estimate)");
        }
    }

    /** "1.2 GiB", "340 MiB". */
    public static String size(long bytes) {
        if (bytes >= 1L << 30) {
            return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
        }
        return String.format(Locale.ROOT, "%.0f MiB", Math.max(1, bytes / (double) (1L << 20)));
    }

    /**
     * "2.1 GiB (statistics 0.9 GiB, least squares 0.5 GiB, grouping 0.6 GiB in Gram form, collection
     * 40 MiB, models 30 MiB, runtime 8 MiB)".
     */
    public String describe() {
        return size(bytes()) + " (statistics " + size(statistics) + ", least squares " + size(leastSquares)
                + ", grouping " + size(grouping) + (gramForm ? " in Gram form" : " in factor form") + ", collection "
                + size(collection) + ", models " + size(models) + ", runtime " + size(runtime) + ")";
    }
}
