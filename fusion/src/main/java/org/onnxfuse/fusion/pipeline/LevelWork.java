package org.onnxfuse.fusion.pipeline;

import java.util.ArrayList;
import java.util.List;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;

/**
 * The sizes that decide how long a level takes, known from the plans before any level runs; a
 * progress display predicts the remaining time from them and the levels already measured.
 *
 * @param level          1-based index
 * @param description    op type and name, e.g. "Conv /features/3/Conv"
 * @param rowsPerSample  rows each sample adds to the level's statistics (output positions; 1 for a
 *                       Gemm, and 1 when the plan does not know them)
 * @param fanIn          d, the affine op's inputs per output (ones column included)
 * @param neurons        m, the level's neurons summed over all parents
 * @param width          k, the fused level's width
 */
public record LevelWork(int level, String description, long rowsPerSample, long fanIn, long neurons, long width) {
    /** One entry per level of the template (parent 0's plan). */
    static List<LevelWork> of(List<LevelPlan> plans, int[] targetWidths) {
        LevelPlan template = plans.get(0);
        List<LevelWork> out = new ArrayList<>();
        for (Level level : template.levels()) {
            long neurons = 0;
            for (LevelPlan plan : plans) {
                neurons += plan.level(level.index()).width();
            }
            String name = level.affine().name().isEmpty() ? level.cut() : level.affine().name();
            out.add(new LevelWork(level.index(), level.affineOpType() + " " + name,
                    level.positionsPerSample().orElse(1L), level.fanIn(), neurons,
                    targetWidths[level.index() - 1]));
        }
        return List.copyOf(out);
    }
}
