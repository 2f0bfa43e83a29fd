package org.onnxfuse.fusion.pipeline;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.collect.StatisticsCollector;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.fusion.ops.ReduceHandler;
import org.onnxfuse.fusion.plan.LevelOp;
import org.onnxfuse.fusion.plan.OutputHead;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.onnx.ir.Graph;

/**
 * A class level whose cut reaches the output through a Relu and then an average over every
 * position ({@link #averagesAfterRelu}), and the rows its pooled fit
 * ({@link org.onnxfuse.fusion.solve.PooledHeadFit}) needs, kept during the level's statistics
 * pass: the fused model's input rows, and per sample what each parent's output shows of each of
 * its class columns, the mean over the positions of the column after the Relu (the parents' own
 * logits). Memory: 4 bytes per input row value plus 4 per sample and parent column, capped by a
 * budget (past it nothing is held and the level keeps its per-position fit).
 */
final class PooledHead implements StatisticsCollector.BatchSink {
    /** Ops that only reshape the pooled [N, C, 1, ...] to the output's [N, C]. */
    private static final Set<String> RESHAPES = Set.of("Flatten", "Reshape", "Squeeze", "Identity");

    private final long budgetBytes;
    private final List<float[]> inputRows = new ArrayList<>();
    private final List<float[]> pooledColumns = new ArrayList<>();
    private int batchSamples;
    private int features = -1;
    private int columns = -1;
    private int positions = -1;
    private long samples;
    private long bytes;
    private boolean overBudget;

    PooledHead(long budgetBytes) {
        this.budgetBytes = budgetBytes;
    }

    /**
     * Whether {@code head}'s trailing ops are a Relu, then GlobalAveragePool or a ReduceMean over
     * every axis but the batch and the neurons' ({@code neuronAxis} of a cut of rank
     * {@code rank}), then only reshapes: the output is then, per sample and class, the mean over
     * the positions of the Relu of the class's column.
     */
    static boolean averagesAfterRelu(OutputHead head, Graph graph, int rank, int neuronAxis) {
        List<LevelOp> ops = head.trailing();
        if (ops.size() < 2 || !ops.get(0).opType().equals("Relu") || rank < 3) {
            return false;
        }
        LevelOp pool = ops.get(1);
        boolean averages = switch (pool.opType()) {
            case "GlobalAveragePool" -> neuronAxis == 1;
            case "ReduceMean" -> reducesAllPositions(pool, graph, rank, neuronAxis);
            default -> false;
        };
        return averages && ops.subList(2, ops.size()).stream().allMatch(op -> RESHAPES.contains(op.opType()));
    }

    private static boolean reducesAllPositions(LevelOp pool, Graph graph, int rank, int neuronAxis) {
        long[] axes;
        try {
            axes = ReduceHandler.axes(pool.node(), rank, new GraphView(graph));
        } catch (RuntimeException e) {
            return false; // axes the planner could not read: not this pattern
        }
        if (axes.length != rank - 2) {
            return false;
        }
        for (long a : axes) {
            if (a == 0 || a == neuronAxis) {
                return false;
            }
        }
        return true;
    }

    @Override
    public boolean takesRows() {
        return true;
    }

    @Override
    public void rawBatch(Activation input, long[] cutShape, float[] a, int m, int rows) {
        batchSamples = Math.toIntExact(input.shape()[0]);
    }

    @Override
    public void accept(float[] x, int d, float[] a, int m, int rows) {
        if (overBudget) {
            return;
        }
        int p = rows / batchSamples;
        if (p * batchSamples != rows || (positions >= 0 && (p != positions || d != features || m != columns))) {
            throw new IllegalStateException("pooled head rows: a batch of " + rows + " rows x " + d + " features and "
                    + m + " columns for " + batchSamples + " samples, after batches of " + positions
                    + " positions x " + features + " features and " + columns + " columns");
        }
        positions = p;
        features = d;
        columns = m;
        long batchBytes = 4L * ((long) rows * d + (long) batchSamples * m);
        if (bytes + batchBytes > budgetBytes) {
            overBudget = true;
            inputRows.clear();
            pooledColumns.clear();
            return;
        }
        inputRows.add(java.util.Arrays.copyOf(x, rows * d));
        float[] pooled = new float[batchSamples * m];
        for (int n = 0; n < batchSamples; n++) {
            for (int i = 0; i < m; i++) {
                double sum = 0;
                for (int q = 0; q < p; q++) {
                    sum += Math.max(a[(n * p + q) * m + i], 0f);
                }
                pooled[n * m + i] = (float) (sum / p);
            }
        }
        pooledColumns.add(pooled);
        samples += batchSamples;
        bytes += batchBytes;
    }

    /** Whether the rows outgrew the budget (then nothing is held). */
    boolean overBudget() {
        return overBudget;
    }

    /** Positions per sample (P), or -1 before the first batch. */
    int positions() {
        return positions;
    }

    int samples() {
        return Math.toIntExact(samples);
    }

    int features() {
        return features;
    }

    /** Every sample's input rows, row-major [samples * positions, features]. */
    float[] inputRows() {
        return org.onnxfuse.fusion.collect.FloatChunks.concat(inputRows);
    }

    /**
     * The target logits, row-major [samples, k], from the parents' logits z_q (their pooled
     * columns; parent q's class c is column q k + c): per sample, the log of the class-weighted
     * mixture of the parents' probabilities, p_c = sum_q u_(qk+c),c softmax(z_q)_c with
     * {@code members} = U (m x k, each class's weights summing to 1), shifted so that the targets'
     * mean over the classes is the parents' mean logit, and clamped at 0, the least the Relu and
     * the average can output. The softmax the output feeds does not see the shift; it keeps the
     * targets where the head can reach them. For identical parents this is their logits.
     */
    double[] targets(DenseMatrix members) {
        return mixtureLogits(parentLogits(), Math.toIntExact(samples), members);
    }

    /**
     * The parents' logits, row-major [samples, m] (parent q's class c at column q k + c), or null
     * once they are cleared or past the budget.
     */
    float[] parentLogits() {
        return overBudget || pooledColumns.isEmpty() ? null
                : org.onnxfuse.fusion.collect.FloatChunks.concat(pooledColumns);
    }

    /**
     * As {@link #targets}, from the parents' logits given row-major [samples, m] (parent q's class
     * c at column q k + c).
     */
    static double[] mixtureLogits(float[] logits, int samples, DenseMatrix members) {
        int k = members.cols();
        int columns = members.rows();
        int parents = columns / k;
        if (parents * k != columns || (long) samples * columns != logits.length) {
            throw new IllegalArgumentException("members " + members.shape() + " for " + logits.length
                    + " logits of " + samples + " samples");
        }
        double[] out = new double[samples * k];
        double[] probability = new double[k];
        for (int n = 0; n < samples; n++) {
            java.util.Arrays.fill(probability, 0);
            double meanLogit = 0;
            for (int q = 0; q < parents; q++) {
                int base = n * columns + q * k;
                double max = Double.NEGATIVE_INFINITY;
                for (int c = 0; c < k; c++) {
                    max = Math.max(max, logits[base + c]);
                    meanLogit += logits[base + c];
                }
                double sum = 0;
                for (int c = 0; c < k; c++) {
                    sum += Math.exp(logits[base + c] - max);
                }
                for (int c = 0; c < k; c++) {
                    probability[c] += members.get(q * k + c, c) * Math.exp(logits[base + c] - max) / sum;
                }
            }
            meanLogit /= columns;
            double meanLog = 0;
            for (int c = 0; c < k; c++) {
                probability[c] = Math.max(probability[c], Double.MIN_NORMAL); // a class no parent gives any chance
                meanLog += Math.log(probability[c]);
            }
            meanLog /= k;
            for (int c = 0; c < k; c++) {
                out[n * k + c] = Math.max(Math.log(probability[c]) - meanLog + meanLogit, 0);
            }
        }
        return out;
    }

    /** Releases the input rows (the parents' logits stay, for a level that goes on to train). */
    void clearRows() {
        inputRows.clear();
    }

    /** Releases the batches. */
    void clear() {
        inputRows.clear();
        pooledColumns.clear();
    }
}
