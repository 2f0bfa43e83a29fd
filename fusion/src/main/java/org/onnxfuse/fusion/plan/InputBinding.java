package org.onnxfuse.fusion.plan;

import java.util.List;
import java.util.Optional;

/**
 * Where an affine op's input features come from: the neuron spaces stacked along the input's
 * neuron axis (one for a chain, several after a Concat, none when the op reads the model
 * input), and how the features follow those neurons ({@link InputLayout}; absent when the ops
 * in between rearrange them in a way the layout cannot describe).
 *
 * @param spaces ids of the spaces, in the order their neurons are stacked
 * @param layout feature = (o * total + offset + n) * inner + i for neuron n of the slice at
 *               {@code offset} of {@code total} stacked neurons; null when unknown
 */
public record InputBinding(List<Integer> spaces, InputLayout layout) {
    public InputBinding {
        spaces = List.copyOf(spaces);
    }

    /** Binding to the model input: features are the input's own. */
    public static InputBinding modelInput() {
        return new InputBinding(List.of(), null);
    }

    public boolean readsModelInput() {
        return spaces.isEmpty();
    }

    public Optional<InputLayout> knownLayout() {
        return Optional.ofNullable(layout);
    }
}
