package org.onnxfuse.fusion.collect;

import java.util.Arrays;
import java.util.Objects;

/**
 * One output tensor of a model run, copied out of ONNX Runtime into Java memory: row-major
 * float32 values and the shape. The record owns the array; treat it as read-only.
 */
public record Activation(String name, long[] shape, float[] values) {
    public Activation {
        Objects.requireNonNull(name, "name");
        shape = shape.clone();
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        if (n != values.length) {
            throw new IllegalArgumentException("activation '" + name + "' of shape " + Arrays.toString(shape)
                    + " holds " + n + " values, found " + values.length);
        }
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    public long dim(int axis) {
        return shape[axis];
    }

    @Override
    public String toString() {
        return "Activation[" + name + " " + Arrays.toString(shape) + "]";
    }
}
