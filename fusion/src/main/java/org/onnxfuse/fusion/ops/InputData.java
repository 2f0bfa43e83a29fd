package org.onnxfuse.fusion.ops;

import java.util.List;
import java.util.Set;
import org.onnxfuse.onnx.ir.Dim;

/**
 * A value computed from the model inputs alone (no neurons: a mask, its count of kept tokens) that a node
 * reads at input {@code input} beside an activation ({@link OpHandler#shapeWithInputData}): its shape, and
 * how a message names it ("'mask_f' (computed from the INT64 input 'mask')"), and the axes along which its
 * values are the same because an Expand broadcast them there from size 1 to an activation's size
 * ({@link ParameterFreeOps.Result#uniform}: sentence-transformers' mask expanded to {@code h.size()}).
 */
public record InputData(int input, List<Dim> shape, String described, Set<Integer> uniform) {
    public InputData {
        shape = List.copyOf(shape);
        uniform = Set.copyOf(uniform);
    }

    public InputData(int input, List<Dim> shape, String described) {
        this(input, shape, described, Set.of());
    }
}
