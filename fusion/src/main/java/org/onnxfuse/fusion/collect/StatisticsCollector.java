package org.onnxfuse.fusion.collect;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import org.onnxfuse.fusion.data.Finite;
import org.onnxfuse.fusion.data.InputBatch;
import org.onnxfuse.fusion.data.IntegerBatch;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.RowGather;
import org.onnxfuse.kernels.StatisticsAccumulator;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Streams the calibration data through the parents and the fused-so-far model and accumulates
 * one level's statistics at a time. Inference is linear in depth: each model keeps its
 * activations at the previous cut (a {@link Frontier}: every value computed before the cut that
 * is read at or after it, skip connections included), and a run opens an ONNX Runtime session
 * over the segment from there to the values it needs and the next frontier only
 * ({@link SegmentPass}), closed when the run is done. The parents, which never change, go from
 * the frontier before level l to the one before level l + 1 while level l is collected; the
 * fused model, whose level l - 1 is written just before level l is collected, goes from the
 * frontier before level l - 1 (stored when its earlier levels were written) to the one before
 * level l. The Gram matrices of a shared space run the parents from the frontier before the
 * space's first level without moving it. Where the segment form does not apply, a run starts at
 * the graph inputs as before ({@link #frontierRestarts()}: a level asked out of order, a graph
 * changed before the cut, a frontier value that is not float32 with one row per sample).
 * Frontier values stay on the heap up to a quarter of the maximum heap in all, the rest goes to
 * memory-mapped temporary files, deleted by {@link #close()}. Within a level, inference of the
 * next batch runs on a thread of its own while the caller's thread accumulates this one
 * ({@link BatchPipeline}; {@link #overlap}); the sums are those of the serial loop.
 *
 * <p>Owns the stored frontiers until {@link #close()}; does not own the data or the backend.
 */
public final class StatisticsCollector implements AutoCloseable {
    /**
     * Receives one batch's X and A rows (row-major), e.g. to check the sums in tests. The arrays
     * are the collector's reused buffers: only the first {@code rows * d} and {@code rows * m}
     * values are the batch's, and they are valid only during the call.
     */
    @FunctionalInterface
    public interface BatchSink {
        void accept(float[] x, int d, float[] a, int m, int rows);

        /** Whether Conv levels' batches go to {@link #acceptGathered} (raw input + gather) instead. */
        default boolean takesGather() {
            return false;
        }

        /**
         * A Conv level's batch before unfolding: {@code count} samples of {@code input}, whose
         * rows {@code gather} makes, with their targets; called only when {@link #takesGather()}.
         */
        default void acceptGathered(float[] input, int count, RowGather gather, float[] a, int m, int rows) {
            throw new UnsupportedOperationException("this sink takes unfolded rows");
        }

        /**
         * The batch as the models produced it, before {@link #accept} or {@link #acceptGathered}:
         * the affine op's input tensor (batch axis first, not unfolded), parent 0's cut shape and the target rows
         * ({@code rows} x {@code m}, row-major, rows in {@link CutRows} order). Both are reused
         * buffers, valid only during the call. The gradient variant keeps them to train on.
         */
        default void rawBatch(Activation input, long[] cutShape, float[] a, int m, int rows) {
        }

        /**
         * Whether {@link #collect}'s tap also wants each batch's rows unfolded, through
         * {@link #accept} after {@link #rawBatch} (a Conv level's rows are unfolded for it alone).
         */
        default boolean takesRows() {
            return false;
        }
    }

    /** Told after each batch how far a collection pass is, e.g. to drive a progress bar. */
    @FunctionalInterface
    public interface Progress {
        Progress NONE = (done, total) -> { };

        /** {@code done} of {@code total} calibration samples have been run through the models. */
        void samplesCollected(long done, long total);
    }

    /**
     * X and A elements one batch may hold at most (about 64 M floats each way): a Conv level's
     * im2col rows on large images would otherwise take gigabytes at the default batch size.
     */
    static final long ROW_ELEMENTS_PER_BATCH = 1L << 26;

    private final List<LevelPlan> plans;
    private final CalibrationData data;
    private final int batchSize;
    private final int threads;
    private final List<Model> parents;
    /** Per parent, then the fused model: the activations the next run over the data starts from. */
    private final List<Track> tracks = new ArrayList<>();
    private final Track fusedTrack;
    private StoredValue.Budget budget = StoredValue.Budget.ofHeap();
    private int restarts;
    /** Batch buffers in flight per level: 2 overlaps inference with statistics, 1 runs them in turn. */
    private int pipelineSlots = 2;
    private long inferenceNanos;
    /** Time the statistics side of a collection spent not accumulating: waiting for inference, opening sessions. */
    private long waitNanos;

    /**
     * @param parents   the parent models, parent 0 the template
     * @param plans     their plans (compatible, see {@code PlanComparison})
     * @param data      calibration samples matching the parents' input
     * @param batchSize samples per ONNX Runtime run
     * @param threads   ONNX Runtime intra-op threads (0: its default)
     */
    public StatisticsCollector(List<Model> parents, List<LevelPlan> plans, CalibrationData data, int batchSize,
                               int threads) {
        if (parents.size() != plans.size() || parents.isEmpty()) {
            throw new IllegalArgumentException(parents.size() + " parents but " + plans.size() + " plans");
        }
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batch size must be positive, found " + batchSize);
        }
        this.plans = List.copyOf(plans);
        this.data = data;
        this.batchSize = batchSize;
        this.threads = threads;
        data.checkShapes(parents.get(0).graph().feedInputs());
        this.parents = List.copyOf(parents);
        for (int k = 0; k < parents.size(); k++) {
            tracks.add(new Track());
        }
        this.fusedTrack = new Track();
    }

    /**
     * Keeps at most {@code bytes} of stored activations on the heap (default: a quarter of the
     * maximum heap); the rest goes to memory-mapped temporary files. Only before the first run.
     */
    void frontierBudget(long bytes) {
        if (tracks.stream().anyMatch(t -> t.held.level() != 0) || fusedTrack.held.level() != 0) {
            throw new IllegalStateException("activations are already stored");
        }
        budget = new StoredValue.Budget(bytes);
    }

    /**
     * Whether inference of the next batch overlaps the statistics of this one (the default) or
     * the two alternate on the caller's thread; the statistics are the same bits either way.
     * Only before the first run.
     */
    void overlap(boolean on) {
        pipelineSlots = on ? 2 : 1;
    }

    /**
     * How often a run could not start from, or could not store, the activations at the previous
     * cut and ran from the graph inputs instead (a level collected out of order, a changed graph
     * before the cut, a value that cannot be stored).
     */
    public int frontierRestarts() {
        return restarts;
    }

    /** Bytes of stored activations on the heap now. */
    long frontierHeapBytes() {
        return budget.used();
    }

    /**
     * One model's frontier between runs over the data. A run asked to start at level {@code from}
     * uses the held frontier when it precedes that level and the model still computes it as it
     * did; else it runs from the graph inputs (the full prefix, as before frontiers existed).
     */
    private final class Track {
        private Frontier held = Frontier.inputs();

        /**
         * Opens the run of {@code model} from the frontier before level {@code from} to
         * {@code wanted}, storing the frontier before level {@code to} (past the last level: an
         * empty one; 0: none, the held one stays).
         */
        SegmentPass begin(String label, Model model, LevelPlan plan, int from, int to, List<String> wanted) {
            Frontier start = held;
            if (held.level() != from || !held.validFor(model.graph())) {
                if (held.level() != 0) {
                    restarts++;
                }
                start = Frontier.inputs();
            }
            List<String> names = null;
            if (to > plan.levels().size()) {
                names = List.of();
            } else if (to > 0) {
                List<String> later = plan.levels().stream().filter(l -> l.index() > to)
                        .map(l -> l.affine().outputs().get(0)).toList();
                names = ModelSlicing.frontier(model.graph(), plan.level(to).affine().outputs().get(0), later)
                        .orElse(null);
            }
            SegmentPass pass = new SegmentPass(label, model, start, names, wanted, threads, budget);
            if (names != null && !pass.advancing()) {
                restarts++;
            }
            return pass;
        }

        /** After every batch of {@code pass} ran: holds the frontier it stored, before level {@code to}. */
        void end(SegmentPass pass, Model model, int to) {
            if (to == 0) {
                return;
            }
            List<Object> ancestry = ModelSlicing.ancestry(model.graph(), pass.frontierNames());
            Frontier next = pass.finish(to, ancestry);
            held.close();
            held = next != null ? next : Frontier.inputs();
        }
    }

    /**
     * What one level's statistics are taken of: each parent's target tensor (its cut, or the
     * output of the join the cut feeds) and tensors of the fused model appended to A after the
     * parents' columns (the other operand of that join), all with their neurons on {@code axis}.
     */
    public record Targets(List<String> parentValues, List<String> fusedValues, int axis, RowMap rows) {
        public Targets {
            parentValues = List.copyOf(parentValues);
            fusedValues = List.copyOf(fusedValues);
            Objects.requireNonNull(rows, "rows");
        }

        public Targets(List<String> parentValues, List<String> fusedValues, int axis) {
            this(parentValues, fusedValues, axis, RowMap.IDENTITY);
        }

        /** These targets with each batch's rows of A rewritten by {@code map}. */
        public Targets mapped(RowMap map) {
            return new Targets(parentValues, fusedValues, axis, map);
        }
    }

    /**
     * Rewrites the target matrix A of one batch in place before it is accumulated: {@code rows} rows
     * of {@code m} columns, row-major, the parents' columns side by side.
     */
    @FunctionalInterface
    public interface RowMap {
        RowMap IDENTITY = (a, m, rows) -> { };

        void apply(float[] a, int m, int rows);
    }

    /** The plain targets of level {@code index}: each parent's own cut. */
    public Targets cutsOf(int index) {
        return new Targets(plans.stream().map(p -> p.level(index).cut()).toList(), List.of(),
                plans.get(0).level(index).neuronAxis());
    }

    /** The calibration samples every level is collected over. */
    public long samples() {
        return data.samples();
    }

    /**
     * The heap bytes the frontier cache keeps values in, for a heap of {@code maxHeapBytes}: a
     * quarter; what does not fit spills to memory-mapped temporary files.
     */
    public static long frontierHeapBudget(long maxHeapBytes) {
        return maxHeapBytes / 4;
    }

    /**
     * {@code batchSize}, or fewer samples when one batch of some level would hold more than
     * {@link #ROW_ELEMENTS_PER_BATCH} elements of X (positions x fan-in) plus A (positions x the
     * parents' widths); at least 1. Levels of unknown size count as nothing.
     */
    public static int batchWithinBudget(List<LevelPlan> plans, int batchSize) {
        long perSample = 0;
        for (Level level : plans.get(0).levels()) {
            Optional<Long> positions = level.positionsPerSample();
            if (positions.isEmpty()) {
                continue;
            }
            long widths = 0;
            for (LevelPlan p : plans) {
                widths += p.level(level.index()).width();
            }
            perSample = Math.max(perSample, positions.get() * (level.fanIn() + widths));
        }
        if (perSample == 0) {
            return batchSize;
        }
        return (int) Math.max(1, Math.min(batchSize, ROW_ELEMENTS_PER_BATCH / perSample));
    }

    /**
     * Statistics of level {@code index} (1-based): X from {@code fused} (levels before it already
     * written; {@code fusedLevel} is the level as planned on the template), A from the parents.
     */
    public LevelStatistics collect(int index, Model fused, Level fusedLevel, ComputeBackend backend) {
        return collect(index, fused, fusedLevel, backend, Progress.NONE);
    }

    /** As {@link #collect(int, Model, Level, ComputeBackend)}, reporting each batch to {@code progress}. */
    public LevelStatistics collect(int index, Model fused, Level fusedLevel, ComputeBackend backend,
                                   Progress progress) {
        return collect(index, fused, fusedLevel, cutsOf(index), backend, progress);
    }

    /**
     * Statistics of level {@code index} against {@code targets}: A holds the parents' target
     * columns, then the fused model's extra columns.
     */
    public LevelStatistics collect(int index, Model fused, Level fusedLevel, Targets targets, ComputeBackend backend,
                                   Progress progress) {
        return collect(index, fused, fusedLevel, targets, backend, progress, null);
    }

    /**
     * As {@link #collect(int, Model, Level, Targets, ComputeBackend, Progress)}, also handing each
     * batch as the models produced it to {@code tap}'s {@link BatchSink#rawBatch} (null: none).
     */
    public LevelStatistics collect(int index, Model fused, Level fusedLevel, Targets targets, ComputeBackend backend,
                                   Progress progress, BatchSink tap) {
        return collect(index, fused, fusedLevel, targets, backend, progress, tap, true);
    }

    /**
     * As {@link #collect(int, Model, Level, Targets, ComputeBackend, Progress, BatchSink)}; without
     * {@code targetGram} the statistics keep only the diagonal of S_aa (the factor form's O(m)
     * instead of m x m, {@link StatisticsAccumulator}).
     */
    public LevelStatistics collect(int index, Model fused, Level fusedLevel, Targets targets, ComputeBackend backend,
                                   Progress progress, BatchSink tap, boolean targetGram) {
        return collect(index, fused, fusedLevel, targets, backend, progress, tap, targetGram, null);
    }

    /**
     * As above, also keeping the level's rows in {@code keep} (null: none) where they come
     * unfolded (a Gemm or MatMul level; a Conv level's rows are gathered in blocks and not kept).
     */
    public LevelStatistics collect(int index, Model fused, Level fusedLevel, Targets targets, ComputeBackend backend,
                                   Progress progress, BatchSink tap, boolean targetGram, LevelRows keep) {
        long[] sums = new long[1];
        StatisticsAccumulator[] acc = new StatisticsAccumulator[1];
        long inferenceBefore = inferenceNanos;
        long waitBefore = waitNanos;
        long start = System.nanoTime();
        try {
            long[] counts = stream(index, fused, fusedLevel, targets, new BatchSink() {
                @Override
                public void accept(float[] x, int d, float[] a, int m, int rows) {
                    long t = System.nanoTime();
                    open(d, m).accumulate(x, a, rows);
                    if (tap != null && tap.takesRows()) {
                        tap.accept(x, d, a, m, rows);
                    }
                    if (keep != null) {
                        keep.add(x, d, a, m, rows);
                    }
                    sums[0] += System.nanoTime() - t;
                }

                @Override
                public boolean takesGather() {
                    // every backend unfolds in blocks (CUDA on the device), never the batch's M x d rows
                    return true;
                }

                @Override
                public void acceptGathered(float[] input, int count, RowGather gather, float[] a, int m, int rows) {
                    long t = System.nanoTime();
                    open(gather.columns(), m).accumulateGathered(gather, input, count, a);
                    if (tap != null && tap.takesRows()) {
                        float[] x = new float[rows * gather.columns()];
                        int values = count * gather.sampleSize();
                        gather.unfold(input.length == values ? input : Arrays.copyOf(input, values), count, x);
                        tap.accept(x, gather.columns(), a, m, rows);
                    }
                    sums[0] += System.nanoTime() - t;
                }

                @Override
                public void rawBatch(Activation input, long[] cutShape, float[] a, int m, int rows) {
                    if (tap != null) {
                        tap.rawBatch(input, cutShape, a, m, rows);
                    }
                }

                private StatisticsAccumulator open(int d, int m) {
                    if (acc[0] == null) {
                        acc[0] = backend.openStatistics(d, m, targetGram);
                    }
                    return acc[0];
                }
            }, progress);
            if (acc[0] == null) {
                throw new OnnxFuseException(ErrorCode.DATA_SHAPE, data.source() + " holds no samples");
            }
            List<Integer> widths = new ArrayList<>();
            for (LevelPlan p : plans) {
                widths.add(Math.toIntExact(p.level(index).width()));
            }
            long inference = inferenceNanos - inferenceBefore;
            long statistics = System.nanoTime() - start - (waitNanos - waitBefore);
            return new LevelStatistics(index, acc[0].statistics(), widths, counts[0], counts[1], fusedLevel.hasBias(),
                    inference, statistics);
        } finally {
            if (acc[0] != null) {
                acc[0].close();
            }
        }
    }

    /**
     * Runs all batches for level {@code index} and hands each batch's rows to {@code sink}.
     *
     * @return {samples, rows}
     */
    public long[] stream(int index, Model fused, Level fusedLevel, BatchSink sink) {
        return stream(index, fused, fusedLevel, sink, Progress.NONE);
    }

    /** As {@link #stream(int, Model, Level, BatchSink)}, reporting each batch to {@code progress}. */
    public long[] stream(int index, Model fused, Level fusedLevel, BatchSink sink, Progress progress) {
        return stream(index, fused, fusedLevel, cutsOf(index), sink, progress);
    }

    /** As {@link #stream(int, Model, Level, BatchSink, Progress)} against {@code targets}. */
    public long[] stream(int index, Model fused, Level fusedLevel, Targets targets, BatchSink sink, Progress progress) {
        Objects.requireNonNull(progress, "progress");
        long total = data.samples();
        String xName = fusedLevel.input();
        boolean xIsInput = fused.graph().feedInputs().stream().anyMatch(v -> v.name().equals(xName));
        List<String> fusedOutputs = new ArrayList<>();
        if (!xIsInput) {
            fusedOutputs.add(xName);
        }
        fusedOutputs.addAll(targets.fusedValues());
        LevelInputs inputs = new LevelInputs(fusedLevel, fused.graph());
        long[] counts = new long[2];
        // The fused model runs from its frontier before level index - 1 (stored with the levels
        // before that one written; level index - 1 is written since) to the one before this
        // level; the parents, which never change, from the one before this level to the next.
        List<SegmentPass> passes = new ArrayList<>();
        long opening = System.nanoTime();
        try {
            passes.add(fusedTrack.begin("fused model (level " + index + " input)", fused, plans.get(0), index - 1,
                    index, fusedOutputs));
            for (int k = 0; k < parents.size(); k++) {
                passes.add(tracks.get(k).begin("parent " + k, parents.get(k), plans.get(k), index, index + 1,
                        List.of(targets.parentValues().get(k))));
            }
            long opened = System.nanoTime() - opening; // session creation is ONNX Runtime's time
            inferenceNanos += opened;
            waitNanos += opened;
            BatchMaker maker = new BatchMaker(index, xName, xIsInput, targets, inputs, passes, sink.takesGather());
            List<LevelBatch> slots = new ArrayList<>();
            for (int s = 0; s < pipelineSlots; s++) {
                slots.add(new LevelBatch());
            }
            try {
                waitNanos += BatchPipeline.run(slots, maker::fill, batch -> {
                    sink.rawBatch(batch.input, batch.cutShape, batch.a, batch.m, batch.rows);
                    if (batch.gather != null) {
                        sink.acceptGathered(batch.input.values(), batch.count, batch.gather, batch.a, batch.m,
                                batch.rows);
                    } else {
                        sink.accept(batch.x, batch.d, batch.a, batch.m, batch.rows);
                    }
                    counts[0] += batch.count;
                    counts[1] += batch.rows;
                    progress.samplesCollected(counts[0], total);
                }, "onnx-fuse inference (level " + index + ")");
            } finally {
                inferenceNanos += maker.busyNanos; // the producer has ended: its sum is complete
            }
            long t = System.nanoTime();
            fusedTrack.end(passes.get(0), fused, index);
            for (int k = 0; k < parents.size(); k++) {
                tracks.get(k).end(passes.get(1 + k), parents.get(k), index + 1);
            }
            long ended = System.nanoTime() - t;
            inferenceNanos += ended;
            waitNanos += ended;
        } finally {
            closeAll(passes);
        }
        return counts;
    }

    /**
     * One batch of a level as {@link BatchSink} takes it, in buffers of its own: the affine op's
     * input (copied out of ONNX Runtime's buffers), X's rows (unless a Conv level's rows are
     * gathered), the target rows A. Reused from batch to batch; a buffer is reallocated only when
     * a batch needs another size (the last, smaller batch).
     */
    private static final class LevelBatch {
        Activation input;
        long[] cutShape;
        float[] x;
        float[] xBuffer;
        int d;
        /** A's rows: the first rows x m values are this batch's. */
        float[] a;
        int m;
        int rows;
        int count;
        RowGather gather;
    }

    /** One batch of a shared space's member cuts: per cut, its rows of all parents' neurons. */
    private static final class SpaceBatch {
        final float[][] a;
        final int[] rows;
        int count;

        SpaceBatch(int cuts) {
            a = new float[cuts][];
            rows = new int[cuts];
        }
    }

    /**
     * Runs the models on consecutive calibration batches and fills {@link LevelBatch}es: the
     * producer side of {@link #stream}. Runs on the pipeline's thread; what it counts is read
     * after that thread has ended.
     */
    private final class BatchMaker {
        private final int index;
        private final String xName;
        private final boolean xIsInput;
        private final Targets targets;
        private final LevelInputs inputs;
        private final List<SegmentPass> passes;
        private final boolean gathered;
        private final Iterator<InputBatch> batches;
        private int batchIndex;
        long busyNanos;

        BatchMaker(int index, String xName, boolean xIsInput, Targets targets, LevelInputs inputs,
                   List<SegmentPass> passes, boolean gathered) {
            this.index = index;
            this.xName = xName;
            this.xIsInput = xIsInput;
            this.targets = targets;
            this.inputs = inputs;
            this.passes = passes;
            this.gathered = gathered;
            this.batches = data.inputBatches(batchSize).iterator();
        }

        boolean fill(LevelBatch out) {
            if (!batches.hasNext()) {
                return false;
            }
            long t = System.nanoTime();
            InputBatch batch = batches.next();
            Finite.check(data.source(), batch);
            Map<String, Activation> fusedRun = passes.get(0).run(batch, batchIndex);
            Activation xAct = xIsInput ? new Activation(xName, batch.floats(xName).shape(),
                    batch.floats(xName).values()) : fusedRun.get(xName);
            int extras = targets.fusedValues().size();
            Activation[] cuts = new Activation[parents.size() + extras];
            for (int k = 0; k < parents.size(); k++) {
                String cut = targets.parentValues().get(k);
                cuts[k] = passes.get(1 + k).run(batch, batchIndex).get(cut);
            }
            for (int e = 0; e < extras; e++) {
                cuts[parents.size() + e] = fusedRun.get(targets.fusedValues().get(e));
            }
            batchIndex++;
            // the runs' arrays are theirs until the next run, the data's until the next batch: copy
            float[] inputValues = out.input != null && out.input.values().length == xAct.values().length
                    ? out.input.values() : new float[xAct.values().length];
            System.arraycopy(xAct.values(), 0, inputValues, 0, inputValues.length);
            out.input = new Activation(xAct.name(), xAct.shape(), inputValues);
            out.gather = gathered ? inputs.gather(xAct.shape()) : null;
            if (out.gather == null) {
                float[] x = inputs.rows(out.input, out.xBuffer);
                if (x != inputValues) {
                    out.xBuffer = x;
                }
                out.x = x;
            } else {
                out.x = null;
            }
            out.d = inputs.fanIn(xAct.shape());
            out.rows = inputs.rowCount(xAct.shape());
            out.count = batch.count();
            int m = 0;
            int axis = targets.axis();
            for (int k = 0; k < cuts.length; k++) {
                Activation c = cuts[k];
                long r = CutRows.rows(c.shape(), axis);
                if (r != out.rows) {
                    throw new OnnxFuseException(ErrorCode.INTERNAL, "level " + index + ": parent " + k + "'s cut '"
                            + c.name() + "' of shape " + java.util.Arrays.toString(c.shape()) + " gives " + r
                            + " rows, but the fused model's input '" + xName + "' of shape "
                            + java.util.Arrays.toString(xAct.shape()) + " gives " + out.rows);
                }
                m += Math.toIntExact(c.dim(axis));
            }
            long size = (long) out.rows * m;
            if (out.a == null || out.a.length < size) {
                out.a = new float[Math.toIntExact(size)];
            }
            int offset = 0;
            for (Activation c : cuts) {
                CutRows.flattenInto(c, axis, out.a, m, offset);
                offset += Math.toIntExact(c.dim(axis));
            }
            targets.rows().apply(out.a, m, out.rows);
            out.m = m;
            out.cutShape = cuts[0].shape();
            busyNanos += System.nanoTime() - t;
            return true;
        }
    }

    /**
     * The Gram matrix that groups shared space {@code space} (ALGORITHM.md section 3, "Neuron
     * spaces"): for each member cut c, S_aa^c = A^c<sup>T</sup> A^c over all parents' neurons at c
     * (m x m, parents side by side), scaled by 1 / trace so that every cut weighs alike, summed.
     * One pass over the data; only the parents run.
     */
    public DenseMatrix spaceGram(int space, ComputeBackend backend, Progress progress) {
        return spaceGram(space, backend, null, progress);
    }

    /**
     * As {@link #spaceGram(int, ComputeBackend, Progress)}, with member cut c's activations clamped
     * to [clamps[c][0], clamps[c][1]] before its Gram matrix is taken, where {@code clamps[c]} is not
     * null (a cut that only a Relu or Clip reads: the grouping compares what that reader outputs).
     *
     * @param clamps per member cut in {@code NeuronSpace.cuts()} order, bounds {lower, upper} or null;
     *               or null for none
     */
    public DenseMatrix spaceGram(int space, ComputeBackend backend, float[][] clamps, Progress progress) {
        int cuts = plans.get(0).space(space).cuts().size();
        // each member cut holds the neurons on its own axis (a Conv's cut on axis 1, a MatMul's after a
        // channels-last permute on the last)
        int firstAxis = plans.get(0).level(plans.get(0).space(space).levels().get(0)).neuronAxis();
        int[] axes = new int[cuts];
        for (int c = 0; c < cuts; c++) {
            int axis = plans.get(0).neuronAxisOf(plans.get(0).space(space).cuts().get(c));
            axes[c] = axis >= 0 ? axis : firstAxis;
        }
        int m = 0;
        for (LevelPlan p : plans) {
            m += Math.toIntExact(p.space(space).width());
        }
        StatisticsAccumulator[] acc = new StatisticsAccumulator[cuts];
        long total = data.samples();
        long[] samples = {0};
        int width = m;
        // every member cut lies at or after the cut of the space's first level: the parents run
        // from their frontier before that level (where the level loop has them) and keep it
        int first = plans.get(0).space(space).levels().stream().mapToInt(Integer::intValue).min().orElse(1);
        List<SegmentPass> passes = new ArrayList<>();
        try {
            for (int c = 0; c < cuts; c++) {
                acc[c] = backend.openStatistics(m, 1);
            }
            long opening = System.nanoTime();
            for (int k = 0; k < plans.size(); k++) {
                passes.add(tracks.get(k).begin("parent " + k, parents.get(k), plans.get(k), first, 0,
                        plans.get(k).space(space).cuts()));
            }
            long opened = System.nanoTime() - opening;
            inferenceNanos += opened;
            waitNanos += opened;
            Iterator<InputBatch> batches = data.inputBatches(batchSize).iterator();
            int[] batchIndex = {0};
            long[] busy = {0};
            List<SpaceBatch> slots = new ArrayList<>();
            for (int s = 0; s < pipelineSlots; s++) {
                slots.add(new SpaceBatch(cuts));
            }
            BatchPipeline.Producer<SpaceBatch> producer = out -> {
                if (!batches.hasNext()) {
                    return false;
                }
                long t = System.nanoTime();
                InputBatch batch = batches.next();
                Finite.check(data.source(), batch);
                // one run per parent for all member cuts (its outputs stay valid until its next run)
                List<Map<String, Activation>> runs = new ArrayList<>();
                for (int k = 0; k < plans.size(); k++) {
                    runs.add(passes.get(k).run(batch, batchIndex[0]));
                }
                batchIndex[0]++;
                for (int c = 0; c < cuts; c++) {
                    Activation[] acts = new Activation[plans.size()];
                    for (int k = 0; k < plans.size(); k++) {
                        acts[k] = runs.get(k).get(plans.get(k).space(space).cuts().get(c));
                    }
                    int axis = axes[c];
                    int rows = Math.toIntExact(CutRows.rows(acts[0].shape(), axis));
                    if (out.a[c] == null || out.a[c].length < (long) rows * width) {
                        out.a[c] = new float[Math.toIntExact((long) rows * width)];
                    }
                    float[] a = out.a[c];
                    int offset = 0;
                    for (Activation act : acts) {
                        CutRows.flattenInto(act, axis, a, width, offset);
                        offset += Math.toIntExact(act.dim(axis));
                    }
                    if (clamps != null && clamps[c] != null) {
                        float lo = clamps[c][0];
                        float hi = clamps[c][1];
                        for (int i = 0; i < rows * width; i++) {
                            a[i] = Math.min(Math.max(a[i], lo), hi);
                        }
                    }
                    out.rows[c] = rows;
                }
                out.count = batch.count();
                busy[0] += System.nanoTime() - t;
                return true;
            };
            float[][] none = new float[1][];
            try {
                waitNanos += BatchPipeline.run(slots, producer, batch -> {
                    for (int c = 0; c < cuts; c++) {
                        if (none[0] == null || none[0].length < batch.rows[c]) {
                            none[0] = new float[batch.rows[c]];
                        }
                        acc[c].accumulate(batch.a[c], none[0], batch.rows[c]);
                    }
                    samples[0] += batch.count;
                    progress.samplesCollected(samples[0], total);
                }, "onnx-fuse inference (space " + space + ")");
            } finally {
                inferenceNanos += busy[0]; // the producer has ended: its sum is complete
            }
            if (samples[0] == 0) {
                throw new OnnxFuseException(ErrorCode.DATA_SHAPE, data.source() + " holds no samples");
            }
            double[] sum = new double[m * m];
            for (StatisticsAccumulator a : acc) {
                DenseMatrix g = a.statistics().xx();
                double trace = 0;
                for (int i = 0; i < m; i++) {
                    trace += g.get(i, i);
                }
                double scale = trace > 0 ? 1 / trace : 0;
                for (int j = 0; j < m; j++) {
                    for (int i = 0; i < m; i++) {
                        sum[i + j * m] += scale * g.get(i, j);
                    }
                }
            }
            return new DenseMatrix(m, m, sum);
        } finally {
            closeAll(passes);
            for (StatisticsAccumulator a : acc) {
                if (a != null) {
                    a.close();
                }
            }
        }
    }

    /**
     * Every parent's value {@code names.get(k)} on every calibration sample ({@link #values} of
     * each parent): the targets past the last cut (the model outputs) and a residual block's output.
     */
    public List<Activation> parentValues(List<String> names) {
        if (names.size() != parents.size()) {
            throw new IllegalArgumentException(names.size() + " names for " + parents.size() + " parents");
        }
        List<Activation> out = new ArrayList<>();
        for (int k = 0; k < parents.size(); k++) {
            out.add(values("parent " + k, parents.get(k), names.get(k)));
        }
        return out;
    }

    /**
     * {@code model}'s value {@code name} on every calibration sample, batches joined along the first
     * axis, from one run of the graph cut down to what computes it (so the fused model's later,
     * not yet written levels play no part); the time counts as inference. Used for the inputs and
     * targets of a segment that spans several levels (a residual block).
     *
     * @param label names the model in messages ("fused model", "parent 1")
     * @throws OnnxFuseException INTERNAL when the value is not float32 with one row per sample
     */
    public Activation values(String label, Model model, String name) {
        long start = System.nanoTime();
        List<float[]> batches = new ArrayList<>();
        long[] shape = null;
        long samples = 0;
        Model cut = ModelSlicing.truncate(model, List.of(name));
        try (OrtRunner runner = OrtRunner.open(label, cut, List.of(name), threads)) {
            for (InputBatch batch : data.inputBatches(batchSize)) {
                Finite.check(data.source(), batch);
                Activation a = runner.run(batch, List.of(name)).get(name);
                if (a.shape().length == 0 || a.shape()[0] != batch.count()) {
                    throw new OnnxFuseException(ErrorCode.INTERNAL, label + ": value '" + name + "' has shape "
                            + java.util.Arrays.toString(a.shape()) + "; expected " + batch.count() + " rows first");
                }
                shape = a.shape().clone();
                samples += a.shape()[0];
                batches.add(a.values());
            }
        } finally {
            inferenceNanos += System.nanoTime() - start;
        }
        shape[0] = samples;
        return new Activation(name, shape, FloatChunks.concat(batches));
    }

    /**
     * The int64 or bool model input {@code name} (a key padding mask) on every calibration sample, as
     * the data holds it, batches joined along the first axis: what a segment that reads it is fed.
     *
     * @throws OnnxFuseException INTERNAL when the data holds float32 values for it
     */
    public IntegerBatch integerInput(String name) {
        List<long[]> batches = new ArrayList<>();
        long[] shape = null;
        long samples = 0;
        for (InputBatch batch : data.inputBatches(batchSize)) {
            if (!(batch.tensor(name) instanceof IntegerBatch b)) {
                throw new OnnxFuseException(ErrorCode.INTERNAL, "model input '" + name + "' holds float32 data;"
                        + " expected int64 or bool");
            }
            shape = b.shape();
            samples += b.count();
            batches.add(b.values().clone()); // the data's arrays are reused from batch to batch
        }
        if (shape == null) {
            throw new OnnxFuseException(ErrorCode.INTERNAL, "no calibration samples for model input '" + name + "'");
        }
        shape[0] = samples;
        long[] values = new long[Math.toIntExact(batches.stream().mapToLong(v -> v.length).sum())];
        int at = 0;
        for (long[] v : batches) {
            System.arraycopy(v, 0, values, at, v.length);
            at += v.length;
        }
        return new IntegerBatch(0, Math.toIntExact(samples), shape, values);
    }

    /**
     * Total time spent on inference so far: ONNX Runtime's sessions and runs, and copying a
     * level's batch out of them (the data's decoding and checks included).
     */
    public long inferenceNanos() {
        return inferenceNanos;
    }

    /**
     * Total time the statistics side of {@link #stream} spent not accumulating so far: opening
     * and closing the level's sessions and waiting for batches. A collection's statistics time
     * is its wall time less this; with inference overlapped, inference and statistics add up to
     * more than the wall time.
     */
    public long waitNanos() {
        return waitNanos;
    }

    /** Closes every pass (its session and the stores of a frontier it did not hand over). */
    private static void closeAll(List<? extends AutoCloseable> opened) {
        RuntimeException first = null;
        for (AutoCloseable c : opened) {
            try {
                c.close();
            } catch (Exception e) {
                if (first == null) {
                    first = e instanceof RuntimeException r ? r : new IllegalStateException(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** Releases the stored activations (heap and temporary files). */
    @Override
    public void close() {
        List<Frontier> held = new ArrayList<>();
        tracks.forEach(t -> held.add(t.held));
        held.add(fusedTrack.held);
        tracks.forEach(t -> t.held = Frontier.inputs());
        fusedTrack.held = Frontier.inputs();
        closeAll(held);
    }
}
