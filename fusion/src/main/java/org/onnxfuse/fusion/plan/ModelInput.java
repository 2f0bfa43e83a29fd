package org.onnxfuse.fusion.plan;

import java.util.List;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Dim;

/**
 * One graph input as the planner found it. Float inputs carry features that levels read; int64
 * and bool inputs (token ids, masks) have no neurons and are passed through unchanged.
 *
 * @param name        the graph input's name
 * @param shape       its declared shape (symbolic batch kept)
 * @param elementType FLOAT, INT64 or BOOL
 */
public record ModelInput(String name, List<Dim> shape, DataType elementType) {
    public ModelInput {
        shape = List.copyOf(shape);
    }

    /** Whether the input holds float32 features (not passed-through integers or booleans). */
    public boolean floating() {
        return elementType == DataType.FLOAT;
    }
}
