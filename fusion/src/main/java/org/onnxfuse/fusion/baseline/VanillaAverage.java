package org.onnxfuse.fusion.baseline;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.onnx.ir.Model;

/**
 * Vanilla averaging: the elementwise mean of every level's parameters, with no alignment.
 * Meaningful only for parents that share an initialisation or were fine-tuned from one model;
 * for independently trained parents it is the lower bound the matching baselines improve on.
 * A BatchNormalization is folded into its affine op before averaging (the mean of folded maps,
 * not of the raw statistics) and removed from the fused graph; one that is not folded (a
 * per-neuron op) is averaged in its affine form y = a x + b and written back in that form.
 */
public final class VanillaAverage {
    public static final String NAME = "average";

    private VanillaAverage() {
    }

    /**
     * The template (parent 0) with every level's weights replaced by the parents' mean.
     *
     * @throws org.onnxfuse.onnx.errors.IncompatibleModelsException when the parents do not share
     *     one plan, or differ in width at some level (named with both widths)
     */
    public static Model fuse(List<Model> parents) {
        return fuse(Parents.of(parents));
    }

    /** As {@link #fuse(List)} with the parents' plans, made and compared by the caller. */
    public static Model fuse(List<Model> parents, List<LevelPlan> plans) {
        return fuse(Parents.of(parents, plans));
    }

    private static Model fuse(Parents p) {
        p.requireEqualWidths("vanilla averaging (" + NAME + ")");
        List<SpaceAlignment> unaligned = new ArrayList<>();
        for (int k = 1; k < p.count(); k++) {
            unaligned.add(SpaceAlignment.of(p.plan(k), Map.of()));
        }
        return p.write(p.alignAndAverage(unaligned), NAME);
    }
}
