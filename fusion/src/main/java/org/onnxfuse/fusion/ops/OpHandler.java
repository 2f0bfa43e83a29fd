package org.onnxfuse.fusion.ops;

import java.util.List;
import java.util.Map;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/**
 * How one ONNX op type (from one opset on) takes part in fusion. Output 0 carries the
 * activation stream; any further output (Dropout's mask, MaxPool's indices) must be unused.
 */
public interface OpHandler {
    /** ONNX domain; "" is the default domain. */
    default String domain() {
        return "";
    }

    String opType();

    /** First opset version of {@link #domain()} this handler applies to. */
    default long sinceOpset() {
        return 1;
    }

    OpRole role();

    /** Name used in the list of supported ops, e.g. "MatMul(+Add)". */
    default String displayName() {
        return opType();
    }

    /** Index of {@code node}'s input that carries the activation stream; every other input is a parameter. */
    default int dataInput(Node node, GraphView graph) {
        return 0;
    }

    /**
     * Shape of output 0 given the data input's shape. Throws
     * {@link org.onnxfuse.onnx.errors.UnsupportedOpException} for a form fusion does not handle and
     * {@link org.onnxfuse.onnx.errors.ModelFormatException} for shapes that cannot occur in a valid model.
     */
    List<Dim> outputShape(Node node, List<Dim> input, GraphView graph);

    /**
     * The settings that change what the op computes and so must agree across parents, as
     * name -> printable value (kernel_shape, strides, alpha, ...). Empty when there are none.
     */
    default Map<String, String> signature(Node node, GraphView graph) {
        return Map.of();
    }
}
