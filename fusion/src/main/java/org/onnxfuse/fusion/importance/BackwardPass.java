package org.onnxfuse.fusion.importance;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * What a {@link GradientRule} sees of the backward graph being written: which values need a
 * gradient, their inferred shapes, and the emitter of new nodes and constants. A value is
 * <em>variable</em> when it depends on the segment's input or on a parameter; a
 * <em>parameter</em> is an initializer fed as a graph input whose gradient is an output.
 */
interface BackwardPass {
    /** Whether {@code value}'s gradient is computed (it lies between a gradient source and the loss). */
    boolean wants(String value);

    boolean isVariable(String value);

    boolean isParameter(String value);

    /** Adds {@code grad} to the gradient of {@code value}; every consumer adds its part before the value is used. */
    void contribute(String value, String grad);

    /** Adds {@code grad} to the gradient of input {@code index} of {@code n} when that input needs one. */
    default void flowTo(Node n, int index, String grad) {
        String in = n.inputs().get(index);
        if (wants(in)) {
            contribute(in, grad);
        }
    }

    /** The inferred shape of a variable value (parameters included), or null when unknown. */
    List<Dim> shape(String value);

    /** The shape of a constant (an initializer, a Constant's output) or of a declared value, or null. */
    List<Dim> constantShape(String value);

    /** {@code value}'s dimensions, all but the batch axis known, or an error naming {@code n} and {@code why}. */
    long[] fixedShape(Node n, String value, String why);

    /** The {@code r} spatial sizes of an [N, C, ...] shape; all must be known. */
    long[] fixedSpatialSizes(Node n, List<Dim> shape, int r);

    /**
     * Refuses a node with a variable input other than {@code dataIndex} that is not a parameter
     * (an activation there would need a gradient rule of its own).
     */
    void onlyDataInput(Node n, int dataIndex);

    /**
     * The factor the incoming gradient of an elementwise nonlinearity y = f(a) is multiplied by:
     * {@code slope} (f'(a)) for ordinary gradients; for DeepLIFT's rescale rule
     * (f(a) - f(a0)) / (a - a0) with a0 the input on the baseline, or the slope where the two are
     * too close for the quotient to mean anything.
     */
    String multiplier(String a, String y, String slope);

    /** The value of a constant (initializer or Constant output), if {@code value} is one. */
    Optional<Tensor> constantValue(String value);

    /** Adds one node of the default domain with {@code outputs} outputs and returns their names. */
    List<String> emitOutputs(String opType, List<String> inputs, Map<String, Attribute> attributes, int outputs);

    /** Adds one node of the default domain and returns its single output. */
    String emit(String opType, List<String> inputs, Attribute... attributes);

    String scalar(float value);

    String constant(long[] dims, float[] values);

    /** A 1-d int64 constant. */
    String longs(long... values);

    UnsupportedOpException unsupported(Node n, String why);
}
