package org.onnxfuse.fusion.pipeline;

import org.onnxfuse.fusion.collect.LevelStatistics;
import org.onnxfuse.fusion.solve.RidgeFit;
import org.onnxfuse.kernels.ComputeBackend;

/**
 * The grouping stage as the pipeline calls it: from a level's least-squares fit to fused weights.
 * The pipeline's seam to {@code org.onnxfuse.fusion.group}.
 */
public interface LevelGrouper {
    /**
     * Groups a hidden level's neurons into {@code width} fused neurons.
     *
     * @param fit   the level's ridge least squares over {@code stats}
     * @param level 1-based level index (messages, seeding)
     */
    LevelFit group(ComputeBackend backend, LevelStatistics stats, RidgeFit fit, FusionMethod method, int width,
                   int level);

    /** The last level: class c of every parent goes to fused class c; the target is the mean of the parents' logits. */
    LevelFit classMean(ComputeBackend backend, LevelStatistics stats, RidgeFit fit, int level);
}
