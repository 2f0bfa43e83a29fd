package org.onnxfuse.fusion.pipeline;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.onnxfuse.fusion.train.TrainingSettings;

/**
 * The settings of the gradient variant (ALGORITHM.md sections 4 and 5): how each level is trained,
 * where kf-gradient's training starts, the last level's distillation and kf-auto's refinement.
 *
 * @param training    the training loop's settings (epochs, learning rate, optimiser ...; its seed is
 *                    the fusion's)
 * @param from        where kf-gradient's levels start: the linear variant's fit (the default, chosen by
 *                    the sweeps in bench/results/gradient_sweep_start.md), or the parents' own weights
 *                    mapped onto the fused inputs and averaged within the groups
 * @param distill     temperature T of the last level's KL distillation to the parents' mean
 *                    softmax(z / T); 0 for none (the last level then regresses the mean logits)
 * @param refine      kf-auto: epochs of training after each level's linear fit; 0 for none
 * @param segments    what one training segment is: each level's affine op alone, or a whole
 *                    residual block (its levels fitted linearly first, then trained together towards
 *                    the grouped output of the parents' residual Adds)
 */
public record GradientSettings(TrainingSettings training, Start from, double distill, int refine,
                               Segments segments) {
    /** The unit the gradient variant trains. */
    public enum Segments {
        /** Every level's affine op on its own, towards its own grouped cut. */
        LEVELS,
        /** A residual block's levels together, towards the block's output; the other levels alone. */
        BLOCKS;

        public String cliName() {
            return name().toLowerCase(Locale.ROOT);
        }

        public static Segments fromName(String name) {
            for (Segments s : values()) {
                if (s.cliName().equals(name.strip().toLowerCase(Locale.ROOT))) {
                    return s;
                }
            }
            throw new InvalidSettingException("training segments (--segments): expected levels or blocks, found '"
                    + name + "'");
        }
    }

    /** Where kf-gradient starts each level's training. */
    public enum Start {
        /** The groups' importance-weighted mean of the parents' weights on the fused inputs (the reference's start). */
        PARENTS,
        /** The linear variant's least-squares fit (the default). */
        LINEAR;

        public String cliName() {
            return name().toLowerCase(Locale.ROOT);
        }

        public static Start fromName(String name) {
            for (Start s : values()) {
                if (s.cliName().equals(name.strip().toLowerCase(Locale.ROOT))) {
                    return s;
                }
            }
            throw new InvalidSettingException("training start (--train-from): expected parents or linear, found '"
                    + name + "'");
        }
    }

    public GradientSettings {
        Objects.requireNonNull(training, "training");
        Objects.requireNonNull(from, "from");
        Objects.requireNonNull(segments, "segments");
        if (!(distill >= 0) || Double.isInfinite(distill)) {
            throw new InvalidSettingException("distillation temperature (--distill): expected a finite number > 0"
                    + " (0: no distillation), found " + distill);
        }
        if (refine < 0) {
            throw new InvalidSettingException("refinement epochs (--refine): expected 0 (none) or more, found " + refine);
        }
    }

    /**
     * Adam, learning rate auto, 100 epochs, patience 15; start from the linear fit; no distillation,
     * no refinement; residual blocks trained as segments (bench/results/gradient_segments.md).
     */
    public static GradientSettings defaults() {
        return new GradientSettings(TrainingSettings.defaults(), Start.LINEAR, 0, 0, Segments.BLOCKS);
    }

    /**
     * Whether {@code method} trains a level: kf-gradient every one; kf-auto a level that is more
     * than one affine op (the last level when its classes pass further ops to the output), and
     * every level with {@code --refine}, the last with {@code --distill}.
     */
    boolean trains(FusionMethod method, boolean last, boolean trailingOps) {
        return switch (method) {
            case KF_GRADIENT -> true;
            case KF_AUTO -> refine > 0 || (last && (distill > 0 || trailingOps));
            default -> false;
        };
    }

    /**
     * Whether {@code method} trains residual blocks as segments: kf-gradient and kf-auto (a block is
     * more than one affine op) with {@code --segments blocks}.
     */
    boolean trainsBlocks(FusionMethod method) {
        return segments == Segments.BLOCKS && (method == FusionMethod.KF_GRADIENT || method == FusionMethod.KF_AUTO);
    }

    /** The settings as provenance records them. */
    Map<String, Object> recorded() {
        Map<String, Object> c = new LinkedHashMap<>(training.recorded());
        c.put("trainFrom", from.cliName());
        c.put("distill", distill);
        c.put("refine", refine);
        c.put("segments", segments.cliName());
        return Collections.unmodifiableMap(c);
    }
}
