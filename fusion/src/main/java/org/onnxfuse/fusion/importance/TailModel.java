package org.onnxfuse.fusion.importance;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.onnxfuse.fusion.collect.ModelSlicing;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.TensorType;
import org.onnxfuse.onnx.ir.ValueInfo;

/** The part of a model after one of its cuts, as a model of its own whose input is that cut. */
final class TailModel {
    private TailModel() {
    }

    /**
     * The nodes computing {@code output} from {@code cut}, with {@code cut} as the only feed input
     * (float32, shape left open) and {@code output} as the only output.
     *
     * @throws UnsupportedOpException UNSUPPORTED_OP when {@code output} also depends on the model input
     *     other than through {@code cut} (a skip connection around the cut)
     */
    static Model of(Model model, String cut, String output) {
        Graph g = ModelSlicing.truncate(model, List.of(output)).graph();
        Set<String> fromInput = new HashSet<>();
        g.feedInputs().forEach(v -> fromInput.add(v.name()));
        List<Node> tail = new ArrayList<>();
        for (Node n : g.topologicalOrder()) {
            if (n.outputs().contains(cut)) {
                n.outputs().stream().filter(o -> !o.equals(cut)).forEach(fromInput::add);
                continue;
            }
            if (n.inputs().stream().anyMatch(fromInput::contains)) {
                fromInput.addAll(n.outputs());
                continue;
            }
            tail.add(n);
        }
        if (fromInput.contains(output)) {
            throw new UnsupportedOpException(ErrorCode.UNSUPPORTED_OP, "'" + output + "' depends on the model input other"
                    + " than through the cut '" + cut + "': feature ablation needs every path to pass the cut");
        }
        Set<String> feeds = new HashSet<>();
        g.feedInputs().forEach(v -> feeds.add(v.name()));
        List<ValueInfo> inputs = new ArrayList<>();
        inputs.add(ValueInfo.tensor(cut, new TensorType(DataType.FLOAT, null)));
        g.inputs().stream().filter(v -> !feeds.contains(v.name())).forEach(inputs::add);
        Graph.Builder b = g.toBuilder().nodes(tail).inputs(inputs)
                .valueInfos(g.valueInfos().stream().filter(v -> !v.name().equals(cut)).toList());
        try {
            return model.withGraph(b.build());
        } catch (ModelFormatException e) {
            throw new UnsupportedOpException(ErrorCode.UNSUPPORTED_OP, "the part of the model after cut '" + cut
                    + "' is not self-contained: " + e.getMessage(), e);
        }
    }
}
