package org.onnxfuse.fusion.plan;

import java.util.List;

/**
 * An op with parameters per neuron (a BatchNormalization that is not folded into an affine op, a
 * LayerNorm, an Add or Mul of a constant along the neurons), on activations whose neurons are the
 * spaces {@code spaces} stacked in order (one space, or a Concat's inputs) on axis
 * {@code neuronAxis}. A constant added to attention scores per head is one too: its values along
 * the heads' axis {@code neuronAxis} of the scores each stand for the {@code neuronsPerValue}
 * neurons of one head of the queries' and keys' space, so it moves and is averaged with whole
 * heads.
 */
public record PerNeuronOp(LevelOp op, List<Integer> spaces, int neuronAxis, int neuronsPerValue) {
    public PerNeuronOp {
        spaces = List.copyOf(spaces);
        if (neuronsPerValue < 1 || neuronsPerValue > 1 && spaces.size() != 1) {
            throw new IllegalArgumentException("a per-head constant covers " + neuronsPerValue + " neurons of "
                    + spaces.size() + " spaces; expected at least 1 neuron, and one space for more than 1");
        }
    }

    /** An op with one parameter value per neuron. */
    public PerNeuronOp(LevelOp op, List<Integer> spaces, int neuronAxis) {
        this(op, spaces, neuronAxis, 1);
    }

    /** Whether each parameter value stands for a whole attention head. */
    public boolean perHead() {
        return neuronsPerValue > 1;
    }
}
