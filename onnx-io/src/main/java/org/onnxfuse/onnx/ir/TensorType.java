package org.onnxfuse.onnx.ir;

import java.util.List;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * Element type and (optional) shape of a tensor-typed value. {@code shape} is null when the
 * value's rank is unknown.
 */
public record TensorType(DataType elementType, List<Dim> shape) {
    public TensorType {
        Objects.requireNonNull(elementType, "elementType");
        shape = shape == null ? null : List.copyOf(shape);
    }

    public boolean hasShape() {
        return shape != null;
    }

    public int rank() {
        return shape == null ? -1 : shape.size();
    }

    /** Dimensions with -1 for symbolic or unknown sizes; null when the rank is unknown. */
    public long[] dimsOrMinusOne() {
        if (shape == null) {
            return null;
        }
        return shape.stream().mapToLong(Dim::sizeOrMinusOne).toArray();
    }

    @Override
    public String toString() {
        String dims = shape == null ? "?" : shape.stream().map(Dim::toString).collect(Collectors.joining(", ", "[", "]"));
        return elementType.name().toLowerCase() + dims;
    }
}
