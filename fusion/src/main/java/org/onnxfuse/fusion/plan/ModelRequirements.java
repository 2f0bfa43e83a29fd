package org.onnxfuse.fusion.plan;

import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.HashSet;
import java.util.Set;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.errors.TerminalText;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.OpsetImport;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * What a model must offer before it is planned, beyond the structure the reader checks: an opset
 * ONNX Runtime runs, and parameters a least-squares fit can work with. Checked at plan time so that
 * `plan` refuses what fusion would later fail on inside the compute backend.
 */
final class ModelRequirements {
    /** The oldest default-domain opset ONNX Runtime supports. */
    static final long MIN_OPSET = 7;
    /** The newest default-domain opset the bundled ONNX Runtime (1.29) officially supports. */
    static final long MAX_OPSET = 26;
    /** Larger parameters overflow the float32 statistics (squares reach 1e60). */
    static final double MAX_PARAMETER = 1e30;

    private ModelRequirements() {
    }

    static void check(Model model) {
        checkOpset(model);
        if (model.graph().outputs().isEmpty()) {
            throw new ModelFormatException(ErrorCode.INVALID_MODEL, "graph " + TerminalText.quote(model.graph().name())
                    + ": expected at least one graph output, found none (the model computes nothing)");
        }
        checkParameters(model.graph());
    }

    private static void checkOpset(Model model) {
        for (OpsetImport o : model.opsetImports()) {
            if (o.isDefaultDomain() && (o.version() < MIN_OPSET || o.version() > MAX_OPSET)) {
                throw new UnsupportedOpException(ErrorCode.UNSUPPORTED_OP, "the model imports the ONNX operator set"
                        + " at opset " + o.version() + "; expected opset " + MIN_OPSET + " to " + MAX_OPSET
                        + " (what ONNX Runtime runs); convert it with"
                        + " onnx.version_converter.convert_version(model, 17)");
            }
        }
    }

    /**
     * Every floating-point initializer a node reads is finite and at most {@value #MAX_PARAMETER}
     * in magnitude, except that a constant only ever added (an attention mask) or chosen by a Where
     * (torch's masked_fill of a key padding mask) may hold -inf or values below -{@value #MAX_PARAMETER}
     * (torch writes masks with -inf or the float minimum).
     */
    private static void checkParameters(Graph graph) {
        Set<String> checked = new HashSet<>();
        for (Node node : graph.nodes()) {
            for (String input : node.inputs()) {
                Tensor t = graph.initializers().get(input);
                if (t != null && isFloating(t.dataType()) && t.data() != null && checked.add(input)) {
                    boolean mask = graph.consumers(input).stream().allMatch(n -> n.isDefaultDomain()
                            && (n.opType().equals("Add") || n.opType().equals("Where") && !n.inputs().get(0).equals(input)));
                    checkFinite(t, node, mask);
                }
            }
        }
    }

    private static boolean isFloating(DataType type) {
        return type == DataType.FLOAT || type == DataType.DOUBLE || type == DataType.FLOAT16
                || type == DataType.BFLOAT16;
    }

    private static void checkFinite(Tensor t, Node reader, boolean mask) {
        if (t.dataType() == DataType.FLOAT) {
            // read in place: a copy of alexnet's largest weight would take 150 MB more at plan time
            FloatBuffer values = t.data().rawBytes().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            long count = t.elementCount();
            for (int i = 0; i < count; i++) {
                checkParameter(t, reader, values.get(i), i, mask);
            }
        } else {
            double[] values = t.toDoubles();
            for (int i = 0; i < values.length; i++) {
                checkParameter(t, reader, values[i], i, mask);
            }
        }
    }

    private static void checkParameter(Tensor t, Node reader, double value, int index, boolean mask) {
        if (!(Math.abs(value) <= MAX_PARAMETER) && !(mask && value < 0)) {
            throw new ModelFormatException(ErrorCode.INVALID_MODEL, "tensor '" + t.name() + "' (read by node "
                    + reader.describe() + "): expected finite parameters of magnitude at most " + MAX_PARAMETER
                    + ", found " + value + " at index " + index + "; the parent's training diverged or the file is"
                    + " damaged");
        }
    }
}
