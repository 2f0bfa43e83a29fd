package org.onnxfuse.fusion.pipeline;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.onnxfuse.fusion.group.GroupingForm;
import org.onnxfuse.fusion.group.ProjectedTargets;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * What one level of the linear variant holds at its peak, in bytes, from the plan (the sample
 * count enters only the frontier term: the statistics are sums). Counted as the code allocates
 * them, Java arrays and JavaCPP's native copies alike (JavaCPP caps its native memory at the
 * heap size by default, so the sum is checked against the heap):
 * <ul>
 *   <li>statistics: S_xx (d x d), S_xa (d x m) and S_aa (m x m, or its diagonal in the factor
 *       form) as Java arrays, float64, held from their read-out to the end of the level;</li>
 *   <li>collection, until the read-out: the accumulator's native sums (the same size again, freed
 *       when it closes, before the least squares), its block of widened rows of X and A (float64,
 *       native; up to 2048 rows gathered over batches, fewer where d or m is above 2048, so that an
 *       operand stays within 32 MB) and {@value #BATCH_COPIES} batches of rows as float32 (rows =
 *       batch x the cut's positions, each taken as rows x (d + m)): the one being accumulated and
 *       the one inference fills meanwhile ({@code StatisticsCollector}'s pipeline);</li>
 *   <li>least squares: W and the parents' weights W0 as the ridge's centre (d x m each, held to
 *       the end of the level), and while solving LAPACK's native copies of S_xx (the factor) and
 *       of S_xa (the right-hand sides, where lambda W0 is added and W is solved in place:
 *       {@code ComputeBackend.choleskySolve} with a centre); no heap copy of either;</li>
 *   <li>grouping: in Gram form C and G (m x m each, the products' own arrays) and what forming
 *       them natively needs besides the solve's copies, which are freed by then (C = S_xa^T W holds
 *       S_xa and W; G = W^T S_xx W, formed from the normal equations as W^T (S_xa + lambda (W0 -
 *       W)), holds W and the m x m product natively and that right-hand side one block of 128
 *       columns at a time per thread on the heap); in factor form the centroids' weights and their
 *       products (d x k, m x k and a neuron block); in cross form C (m x m) on the heap, while it
 *       is made S_xa natively and one block of W's and of C's columns (about 16 M values of C,
 *       {@code ProjectedTargets.crossTableBlock}) natively and on the heap, then the steps' kept
 *       C U (m x k, {@code NearestGroups});</li>
 *   <li>frontier: the cached activations that stay on the heap while the level is solved (the
 *       parents' values before the next level and the fused model's before this one, each model's
 *       counted as its affine op's input at the template's widths, skip streams left out), at most
 *       the cache's share of the heap ({@code StatisticsCollector.frontierHeapBudget}, a quarter:
 *       the rest spills to memory-mapped files outside the heap); that share when the sample count
 *       is not known ({@code onnx-fuse plan} without {@code --samples});</li>
 *   <li>models: the parents' initializers as the reader holds them (the file's bytes, which
 *       {@code raw_data} aliases; external data is read on demand and left out), and the fused
 *       copy's weights written for the levels before this one (float32, d x k each) that stay on
 *       the heap: those under a MiB (a larger level's weights move to a temporary file once
 *       written and only its k biases are counted);</li>
 *   <li>runtime: a fixed {@value #RUNTIME_MIB} MiB for what the JVM, picocli, protobuf and ONNX
 *       Runtime's Java side keep on the heap.</li>
 * </ul>
 * The collection and the fit (least squares, then grouping) do not overlap, so the peak is
 * statistics + max(collection, least squares + grouping) + frontier + models + runtime. The
 * gradient variant's training rows take their own quarter of the heap and are left out, as are
 * the rows a class level that averages after a Relu holds for its fit through the pooling
 * ({@link PooledHead}, another quarter at most).
 *
 * <p>Measured on the 8 MLP parents {@code mlp_k8_p*.onnx} with 5000 samples (kf-linear, 2 cores;
 * the smallest -Xmx that fuses, in steps of 10 MB), with the pipelined collection: 190 MiB fused
 * in every run (3), 180 MiB in four of five, 170 MiB in two of two, 160 and 150 MiB in one of two,
 * 140 MiB in none of four (the heap ran out during level 1); the build before the pipeline, in the
 * same session: 180 and 190 MiB in every run (5, 3), 170 MiB 2 of 2, 160 MiB 1 of 2, 150 and 140
 * MiB none of 2 (so the margin between fusing and running out is wide, and the earlier measure of
 * 140 MiB in three runs of four no longer holds since the cross form keeps C U). Level 1 (factor
 * form at these heaps) is estimated at 136 MiB with a 140 MiB heap, of which the frontier is 35
 * MiB (the cache's quarter; the values counted, eight parents' 256 activations and the 784 inputs
 * of 5000 samples, are 54 MiB). On the 2 parents {@code mlp_k2_p*.onnx} with the same data, 70
 * MiB fuses (3 runs), against an estimate of 69 MiB at 70 MiB. The rest of the measured need is
 * the garbage collector's headroom for the level's large arrays: the estimate stays a lower bound,
 * so the check does not refuse a heap that fuses, and a heap between the estimate and the
 * measured need can still run out during the level, with exit 61 as well.
 *
 * @param level      1-based index
 * @param fanIn      d
 * @param neurons    m, all parents' neurons
 * @param width      k, the fused width
 * @param form       the form the level is grouped in (Gram and cross: m x m matrices), never AUTO
 * @param rows       the level's rows kept for the row form ({@link ProjectedTargets#rowFormBytes}), held
 *                   from the collection to the products; 0 when its products come from the statistics
 */
public record LevelMemory(int level, long fanIn, long neurons, long width, GroupingForm form, long statistics,
                          long rows, long collection, long leastSquares, long grouping, long frontier, long models,
                          long runtime) {
    /** Widened rows per BLAS block in the CPU statistics (kernels' CpuStatisticsAccumulator.MAX_BLOCK_ROWS). */
    static final long BLOCK_ROWS = 2048;
    /**
     * Widened values per operand of a block at most (kernels' CpuStatisticsAccumulator.BUFFER_ELEMENTS):
     * the block holds min(BLOCK_ROWS, this / max(d, m)) rows, gathered over batches.
     */
    static final long BLOCK_ELEMENTS = 1L << 22;
    /** Batches of rows held during the collection: the one accumulated and the one inference fills meanwhile. */
    static final long BATCH_COPIES = 2;
    /** Neurons per block of the factor form's cross table. */
    static final long NEURON_BLOCK = 1024;
    /**
     * The heap a fusion holds besides its models and levels: 5.9 MB measured live (class histogram)
     * after the 8 MLP parents were loaded and scored, less their bytes; rounded up.
     */
    static final int RUNTIME_MIB = 8;

    /** The peak: the statistics, then the collection or the fit, with the frontier, models and runtime throughout. */
    public long bytes() {
        return statistics + rows + Math.max(collection, leastSquares + grouping) + frontier + models + runtime;
    }

    /**
     * The estimate for a level of d inputs, m neurons of all parents and fused width k, with
     * {@code models} bytes of parents and fused copy and {@code frontier} bytes of cached
     * activations on the heap.
     */
    public static LevelMemory of(int level, long d, long m, long k, long batchRows, GroupingForm form, long models,
                                 long frontier) {
        return of(level, d, m, k, batchRows, form, 0, models, frontier);
    }

    /** As above, with {@code rows} bytes of the level's rows kept for the row form. */
    public static LevelMemory of(int level, long d, long m, long k, long batchRows, GroupingForm form, long rows,
                                 long models, long frontier) {
        if (form == GroupingForm.AUTO) {
            throw new IllegalArgumentException("resolve the grouping form first (GroupingForm.resolve)");
        }
        boolean gramForm = form == GroupingForm.GRAM;
        long aa = gramForm ? m * m : m;
        long statistics = 8 * (d * d + d * m + aa);
        long blockRows = Math.min(BLOCK_ROWS, Math.max(1, BLOCK_ELEMENTS / Math.max(d, m)));
        long collection = statistics + 8 * blockRows * (d + m) + BATCH_COPIES * 4 * batchRows * (d + m);
        long leastSquares = 8 * (2 * d * m) + 8 * (d * d + d * m);
        long grouping = switch (form) {
            case GRAM -> 8 * (3 * m * m + Math.max(0, d * m - d * d));
            case CROSS -> {
                long columns = ProjectedTargets.crossTableBlock(Math.toIntExact(m));
                yield 8 * (m * m + Math.max(d * m + 2 * (d + m) * columns,
                        m * k + 4 * m + 2 * d));
            }
            default -> 8 * (2 * d * k + 2 * m * k + NEURON_BLOCK * k);
        };
        return new LevelMemory(level, d, m, k, form, statistics, rows, collection, leastSquares, grouping, frontier,
                models, (long) RUNTIME_MIB << 20);
    }

    /**
     * Every level of {@code plans} (one per parent; template first) whose models hold
     * {@code parentBytes} on the heap together ({@link #heldBytes}), fused at {@code widths} (one per
     * level; null for the template's) with {@code batch} samples per ONNX Runtime run, grouped in
     * the form {@code form} gives for the level's neuron count and fan-in, with
     * {@code samples} calibration samples (0 when not known) and {@code frontierBudget} bytes of
     * heap for the frontier cache.
     */
    public static List<LevelMemory> of(List<LevelPlan> plans, long parentBytes, int[] widths, int batch,
                                       GroupingForm.Rule form, long samples,
                                       long frontierBudget) {
        return of(plans, parentBytes, widths, batch, form, samples, frontierBudget, 0);
    }

    /**
     * As above; where {@code maxHeapBytes} is positive, a level that {@code form} puts in the cross
     * form but whose estimate is then above that heap is estimated (and to be grouped) in the factor
     * form, which holds no m x m matrix: the cross form's rule leaves the models and the frontier
     * three eighths of the heap, which large parents can exceed.
     */
    public static List<LevelMemory> of(List<LevelPlan> plans, long parentBytes, int[] widths, int batch,
                                       GroupingForm.Rule form, long samples,
                                       long frontierBudget, long maxHeapBytes) {
        int[] k = widths != null ? widths
                : plans.get(0).levels().stream().mapToInt(l -> Math.toIntExact(l.width())).toArray();
        List<LevelMemory> out = new ArrayList<>();
        long fusedWeights = 0;
        for (LevelWork w : LevelWork.of(plans, k)) {
            GroupingForm chosen = form.of(w.neurons(), w.fanIn(), w.width());
            long models = parentBytes + fusedWeights;
            long frontier = frontier(plans, w.level(), samples, frontierBudget);
            long rows = (long) batch * w.rowsPerSample();
            LevelMemory level = of(w.level(), w.fanIn(), w.neurons(), w.width(), rows, chosen,
                    rowForm(plans.get(0).level(w.level()), chosen, samples, w, maxHeapBytes), models, frontier);
            if (chosen == GroupingForm.CROSS && maxHeapBytes > 0 && level.bytes() > maxHeapBytes) {
                level = of(w.level(), w.fanIn(), w.neurons(), w.width(), rows, GroupingForm.FACTOR, models, frontier);
            }
            out.add(level);
            long written = 4 * w.fanIn() * w.width();
            // a level's weights of a MiB or more go to the fusion's temporary file once written (LevelLoop.spilled)
            fusedWeights += written >= LevelLoop.SPILL_MIN_BYTES ? 4L * w.width() : written;
        }
        return List.copyOf(out);
    }

    /**
     * The bytes of the rows a level keeps for the row form ({@code LevelLoop}'s rule: not in the
     * factor form, and {@link ProjectedTargets#rowFormFits} with its rows for the samples), 0
     * otherwise or when the samples or the heap are not known.
     */
    static long rowForm(Level level, GroupingForm form, long samples, LevelWork work, long maxHeapBytes) {
        return keepsRows(level, form, samples, work.neurons(), maxHeapBytes)
                ? ProjectedTargets.rowFormBytes(samples * level.positionsPerSample().get(), level.fanIn(), work.neurons())
                : 0;
    }

    /**
     * Whether a level of {@code neurons} (all parents') grouped in {@code form} keeps its rows for
     * the row form with {@code samples} calibration samples: not in the factor form (it forms no
     * m x m product), and where {@link ProjectedTargets#rowFormFits}.
     */
    static boolean keepsRows(Level level, GroupingForm form, long samples, long neurons, long maxHeapBytes) {
        if (form == GroupingForm.FACTOR || samples <= 0 || maxHeapBytes <= 0 || level.positionsPerSample().isEmpty()) {
            return false;
        }
        return ProjectedTargets.rowFormFits(samples * level.positionsPerSample().get(), level.fanIn(), neurons,
                "Conv".equals(level.affineOpType()), maxHeapBytes);
    }

    /**
     * The frontier cache's heap bytes while level {@code level} is solved: every parent's values
     * before the next level and the fused model's before this one, float32, each counted as the
     * affine op's input (the template's shape for the fused model), within {@code budget}; the
     * budget itself when the samples or a shape are not known.
     */
    static long frontier(List<LevelPlan> plans, int level, long samples, long budget) {
        if (samples <= 0) {
            return budget;
        }
        long perSample = inputElements(plans.get(0).level(level));
        if (level < plans.get(0).levels().size()) {
            for (LevelPlan p : plans) {
                perSample = sumKnown(perSample, inputElements(p.level(level + 1)));
            }
        }
        if (perSample < 0) {
            return budget;
        }
        double bytes = 4.0 * samples * perSample;
        return bytes >= budget ? budget : (long) bytes;
    }

    /** Values per sample of the level's affine op input (the axes after the batch); -1 if one is not fixed. */
    private static long inputElements(Level level) {
        long n = 1;
        List<Dim> shape = level.inputShape();
        for (int i = 1; i < shape.size(); i++) {
            if (!shape.get(i).isFixed()) {
                return -1;
            }
            n *= shape.get(i).value();
        }
        return n;
    }

    private static long sumKnown(long a, long b) {
        return a < 0 || b < 0 ? -1 : a + b;
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

    /** The form {@code form} takes for a level of m neurons and fan-in d with this heap ({@link GroupingForm#resolve}). */
    public static GroupingForm.Rule forms(GroupingForm form, long maxHeapBytes) {
        return (m, d, k) -> form.resolve(Math.toIntExact(Math.min(m, Integer.MAX_VALUE)), d, k, maxHeapBytes);
    }

    /** {@link #forms} for the default, {@link GroupingForm#AUTO}. */
    public static GroupingForm.Rule formsWithin(long maxHeapBytes) {
        return forms(GroupingForm.AUTO, maxHeapBytes);
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
     * "2.1 GiB (statistics 0.9 GiB, then least squares 0.5 GiB + grouping 0.6 GiB in Gram form or
     * collection 1.0 GiB, frontier 40 MiB, models 30 MiB, runtime 8 MiB)".
     */
    public String describe() {
        return size(bytes()) + " (statistics " + size(statistics) + (rows > 0 ? ", rows " + size(rows) : "")
                + ", then least squares " + size(leastSquares)
                + " + grouping " + size(grouping) + (form == GroupingForm.GRAM ? " in Gram form"
                : " in " + form.cliName() + " form")
                + " or collection " + size(collection) + ", frontier " + size(frontier) + ", models " + size(models)
                + ", runtime " + size(runtime) + ")";
    }
}
