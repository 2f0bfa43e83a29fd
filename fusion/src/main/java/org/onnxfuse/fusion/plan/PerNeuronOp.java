package org.onnxfuse.fusion.plan;

import java.util.List;

/**
 * An op with one parameter per neuron (a BatchNormalization that is not folded into an affine
 * op), on activations whose neurons are the spaces {@code spaces} stacked in order (one space,
 * or a Concat's inputs).
 */
public record PerNeuronOp(LevelOp op, List<Integer> spaces) {
    public PerNeuronOp {
        spaces = List.copyOf(spaces);
    }
}
