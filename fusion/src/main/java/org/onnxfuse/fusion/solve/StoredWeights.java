package org.onnxfuse.fusion.solve;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.HalfFloats;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Names;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Stores a model's float32 weights as float16 or bfloat16, halving its size: each float32
 * initializer of at least {@link #MIN_ELEMENTS} elements becomes a {@code <name>_<type>}
 * initializer (rounded to nearest, ties to even) read by a {@code Cast} to float32 that produces
 * the original name, so the graph's ops, inputs and outputs are unchanged and it still computes in
 * float32. Smaller tensors (scales, epsilons, shapes) and initializers that are also graph inputs
 * (which a caller may override) stay float32.
 */
public final class StoredWeights {
    /** Below this many elements a tensor saves too little to be worth the rounding. */
    public static final int MIN_ELEMENTS = 16;

    private StoredWeights() {
    }

    /**
     * @return the model itself for {@link WeightType#FLOAT32}, else a copy with its weights stored
     *         in {@code type}
     * @throws OnnxFuseException (USAGE) when the model's opset has no Cast from {@code type}
     */
    public static Model convert(Model model, WeightType type) {
        if (type == WeightType.FLOAT32) {
            return model;
        }
        requireSupported(model, type);
        Graph graph = model.graph();
        Set<String> taken = new HashSet<>(graph.initializers().keySet());
        graph.nodes().forEach(n -> taken.addAll(n.outputs()));
        graph.inputs().forEach(v -> taken.add(v.name()));
        Set<String> graphInputs = new HashSet<>();
        for (ValueInfo v : graph.inputs()) {
            graphInputs.add(v.name());
        }
        Graph.Builder b = graph.toBuilder();
        List<Node> casts = new ArrayList<>();
        for (Tensor t : graph.initializers().values()) {
            if (t.dataType() != DataType.FLOAT || t.elementCount() < MIN_ELEMENTS || graphInputs.contains(t.name())) {
                continue;
            }
            String stored = Names.fresh(t.name() + "_" + type.cliName(), taken);
            b.removeInitializer(t.name());
            b.addInitializer(Tensor.ofRawBytes(stored, type.dataType(), t.dims(), encode(t.toFloats(), type)));
            casts.add(Node.of(stored + "_cast", "Cast", List.of(stored), List.of(t.name()),
                    Attribute.ofLong("to", DataType.FLOAT.code())));
        }
        List<Node> nodes = new ArrayList<>(casts);
        nodes.addAll(graph.nodes());
        return model.withGraph(b.nodes(nodes).build());
    }

    /**
     * Fails before any work when {@code model}'s opset has no Cast from {@code type}.
     *
     * @throws OnnxFuseException (USAGE) naming the opset needed and the one found
     */
    public static void requireSupported(Model model, WeightType type) {
        long opset = model.defaultOpset();
        if (opset < type.minimumOpset()) {
            throw new OnnxFuseException(ErrorCode.USAGE, "--dtype " + type.cliName() + " needs ONNX opset "
                    + type.minimumOpset() + " or newer (Cast from " + type.dataType() + "), but the parents use opset "
                    + opset + "; use --dtype float16 or float32, or re-export the parents with a newer opset");
        }
    }

    private static byte[] encode(float[] values, WeightType type) {
        ByteBuffer out = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            out.putShort(type == WeightType.FLOAT16 ? HalfFloats.floatToHalf(v) : toBfloat16(v));
        }
        return out.array();
    }

    /** The upper half of the float32 bits, rounded to nearest with ties to even; NaN stays NaN. */
    static short toBfloat16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
