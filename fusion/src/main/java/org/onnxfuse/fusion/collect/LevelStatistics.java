package org.onnxfuse.fusion.collect;

import java.util.List;
import java.util.Objects;
import org.onnxfuse.kernels.SufficientStatistics;

/**
 * A level's sufficient statistics over the calibration data: S_xx (d x d) of the fused model's
 * X, S_xa (d x m) and S_aa (m x m) with A = [A_1 | ... | A_K | R] the parents' cut activations,
 * parent k's neurons in columns {@link #offset(int)} .. offset(k) + n_k, followed by the fused
 * model's own columns R, if any were asked for (the skip stream a residual level's target
 * subtracts). Immutable.
 *
 * @param level           1-based level index
 * @param statistics      the sums
 * @param parentWidths    n_k per parent
 * @param samples         calibration samples (model inputs) streamed
 * @param rows            rows of X and A: samples x positions per sample
 * @param hasBias         whether X's last column is the ones column
 * @param inferenceNanos  time spent on inference: ONNX Runtime's sessions and runs, copying the batches
 *                        out of them and building X's and A's rows
 * @param statisticsNanos time the statistics side was busy accumulating; inference of the next batch
 *                        overlaps it, so the two can add up to more than the collection's wall time
 */
public record LevelStatistics(int level, SufficientStatistics statistics, List<Integer> parentWidths, long samples,
                              long rows, boolean hasBias, long inferenceNanos, long statisticsNanos) {
    public LevelStatistics {
        Objects.requireNonNull(statistics, "statistics");
        parentWidths = List.copyOf(parentWidths);
        int m = parentWidths.stream().mapToInt(Integer::intValue).sum();
        if (m > statistics.targetDim()) {
            throw new IllegalArgumentException("parent widths " + parentWidths + " sum to " + m + ", statistics have"
                    + " only " + statistics.targetDim() + " targets");
        }
    }

    /** d: columns of X, the ones column included. */
    public int fanIn() {
        return statistics.inputDim();
    }

    /** Columns of A: all parents' neurons, then the fused model's own columns. */
    public int targets() {
        return statistics.targetDim();
    }

    public int parents() {
        return parentWidths.size();
    }

    /** First column of parent {@code k}'s neurons in A. */
    public int offset(int k) {
        int o = 0;
        for (int i = 0; i < k; i++) {
            o += parentWidths.get(i);
        }
        return o;
    }
}
