package org.onnxfuse.fusion.plan;

import java.util.List;

/**
 * An op with parameters per neuron (a BatchNormalization that is not folded into an affine op, a
 * LayerNorm, an Add or Mul of a constant along the neurons), on activations whose neurons are the
 * spaces {@code spaces} stacked in order (one space, or a Concat's inputs) on axis
 * {@code neuronAxis}.
 */
public record PerNeuronOp(LevelOp op, List<Integer> spaces, int neuronAxis) {
    public PerNeuronOp {
        spaces = List.copyOf(spaces);
    }
}
