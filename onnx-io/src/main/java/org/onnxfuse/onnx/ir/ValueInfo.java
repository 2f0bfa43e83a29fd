package org.onnxfuse.onnx.ir;

import java.util.Objects;

/**
 * Name and type of a graph input, output or intermediate value. {@code tensorType} is null for
 * values whose type is not a tensor (sequences, maps, optionals) or not declared; those types
 * are kept in the origin and written back unchanged.
 */
public record ValueInfo(String name, TensorType tensorType, String docString, ProtoOrigin origin) {
    public ValueInfo {
        Objects.requireNonNull(name, "name");
        docString = docString == null ? "" : docString;
    }

    public static ValueInfo tensor(String name, TensorType type) {
        return new ValueInfo(name, type, "", null);
    }

    public ValueInfo withTensorType(TensorType type) {
        return new ValueInfo(name, type, docString, origin);
    }

    public ValueInfo withName(String newName) {
        return new ValueInfo(newName, tensorType, docString, origin);
    }
}
