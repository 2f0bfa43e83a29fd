package org.onnxfuse.fusion.plan;

import java.util.List;
import java.util.Optional;

/**
 * How the input features of a level's affine op line up with the neurons of the cut before it:
 * feature f = (o * width + n) * inner + i for neuron n, o in [0, outer), i in [0, inner). A
 * dense layer after a dense layer has outer = inner = 1; a Gemm after a Flatten of [N, C, H, W]
 * has outer 1 and inner H*W; after a Transpose to [N, H, W, C] and a Flatten, outer H*W and
 * inner 1 (channels last); a Conv has outer 1 and inner = its kernel size.
 */
public record InputLayout(long outer, long inner) {
    public InputLayout {
        if (outer < 1 || inner < 1) {
            throw new IllegalArgumentException("outer and inner must be >= 1, found " + outer + ", " + inner);
        }
    }

    /** Features per neuron. */
    public long featuresPerNeuron() {
        return outer * inner;
    }

    /** The feature index of neuron {@code neuron} of {@code width}, copy {@code copy} in [0, outer * inner). */
    public int feature(int neuron, int width, long copy) {
        return feature(neuron, 0, width, copy);
    }

    /**
     * The feature index of neuron {@code neuron} of a slice stacked at {@code offset} among
     * {@code total} neurons (a Concat's inputs), copy {@code copy} in [0, outer * inner).
     */
    public int feature(int neuron, int offset, int total, long copy) {
        long o = copy / inner;
        long i = copy % inner;
        return Math.toIntExact((o * total + offset + neuron) * inner + i);
    }

    /**
     * The layout of {@code level}'s affine input over the neurons of {@code previous}'s cut, or
     * empty when the level does not read that cut alone or its ops mix the features in a way this
     * record cannot describe (see {@link InputBinding}).
     */
    public static Optional<InputLayout> of(Level previous, Level level) {
        if (!level.binding().spaces().equals(List.of(previous.space()))) {
            return Optional.empty();
        }
        return level.binding().knownLayout();
    }
}
