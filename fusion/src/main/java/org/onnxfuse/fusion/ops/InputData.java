package org.onnxfuse.fusion.ops;

import java.util.List;
import org.onnxfuse.onnx.ir.Dim;

/**
 * A value computed from the model inputs alone (no neurons: a mask, its count of kept tokens) that a node
 * reads at input {@code input} beside an activation ({@link OpHandler#shapeWithInputData}): its shape, and
 * how a message names it ("'mask_f' (computed from the INT64 input 'mask')").
 */
public record InputData(int input, List<Dim> shape, String described) {
    public InputData {
        shape = List.copyOf(shape);
    }
}
