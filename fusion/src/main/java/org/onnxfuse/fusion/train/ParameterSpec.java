package org.onnxfuse.fusion.train;

import java.util.List;
import java.util.Objects;

/**
 * One trainable parameter of a segment: its name (the ONNX initializer it came from and is
 * written back to), its shape, and how fresh values are drawn. Its values are a flat row-major
 * {@code float[]} of {@link #size()} elements, owned by the trainer.
 */
public record ParameterSpec(String name, List<Integer> shape, Initializer fresh) {
    public ParameterSpec {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(fresh, "fresh");
        if (name.isBlank()) {
            throw new IllegalArgumentException("parameter name: expected a name, found a blank one");
        }
        shape = List.copyOf(shape);
        long size = 1;
        for (int dim : shape) {
            if (dim < 1) {
                throw new IllegalArgumentException("shape of parameter '" + name + "': expected dimensions >= 1, found "
                        + shape);
            }
            size *= dim;
            if (size > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("shape of parameter '" + name + "': expected at most 2^31 - 9 values"
                        + " (one Java array), found " + shape);
            }
        }
    }

    /** Number of values: the product of the shape's dimensions (1 for a scalar). */
    public int size() {
        int size = 1;
        for (int dim : shape) {
            size *= dim;
        }
        return size;
    }
}
