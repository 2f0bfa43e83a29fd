package org.onnxfuse.fusion.collect;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorType;
import org.onnxfuse.onnx.ir.ValueInfo;

/** Model copies for activation collection: extra graph outputs, and graphs cut down to what some outputs need. */
public final class ModelSlicing {
    private ModelSlicing() {
    }

    /**
     * {@code model} with each of {@code names} that is not yet a graph output added as one, typed
     * as declared in the graph (value_info) or else as float32 of unknown shape.
     */
    public static Model withOutputs(Model model, List<String> names) {
        Graph g = model.graph();
        Set<String> present = new HashSet<>();
        g.outputs().forEach(v -> present.add(v.name()));
        Graph.Builder b = g.toBuilder();
        boolean changed = false;
        for (String name : names) {
            if (present.add(name)) {
                b.addOutput(ValueInfo.tensor(name, outputType(g, name)));
                changed = true;
            }
        }
        return changed ? model.withGraph(b.build()) : model;
    }

    private static TensorType outputType(Graph g, String name) {
        return g.declaredType(name).orElse(new TensorType(DataType.FLOAT, null));
    }

    /**
     * {@code model} reduced to the nodes, initializers and value_info needed to compute
     * {@code outputs}, which become its only graph outputs (float32 of unknown shape, since the
     * declared shapes may be stale while widths change). The feed inputs stay. Later parts of
     * the graph may be inconsistent (a level written with a new width before its successor is):
     * the cut-down graph does not contain them.
     */
    public static Model truncate(Model model, List<String> outputs) {
        Graph g = model.graph();
        Set<String> needed = new HashSet<>();
        Set<Node> keep = new HashSet<>();
        Deque<String> work = new ArrayDeque<>(outputs);
        while (!work.isEmpty()) {
            String value = work.pop();
            if (!needed.add(value)) {
                continue;
            }
            g.producer(value).ifPresent(n -> {
                if (keep.add(n)) {
                    n.inputs().stream().filter(s -> !s.isEmpty()).forEach(work::push);
                    n.subgraphs().forEach(sub -> collectReads(sub, work));
                }
            });
        }
        Graph.Builder b = g.toBuilder();
        List<Node> nodes = new ArrayList<>();
        for (Node n : g.nodes()) {
            if (keep.contains(n)) {
                nodes.add(n);
            }
        }
        b.nodes(nodes);
        List<Tensor> inits = new ArrayList<>();
        for (Tensor t : g.initializers().values()) {
            if (needed.contains(t.name())) {
                inits.add(t);
            }
        }
        b.initializers(inits);
        Set<String> feeds = new HashSet<>();
        g.feedInputs().forEach(v -> feeds.add(v.name()));
        b.inputs(g.inputs().stream().filter(v -> feeds.contains(v.name()) || needed.contains(v.name())).toList());
        b.valueInfos(g.valueInfos().stream().filter(v -> needed.contains(v.name()) && !outputs.contains(v.name()))
                .toList());
        b.outputs(outputs.stream().map(o -> ValueInfo.tensor(o, new TensorType(DataType.FLOAT, null))).toList());
        return model.withGraph(b.build());
    }

    private static void collectReads(Graph sub, Deque<String> work) {
        for (Node n : sub.nodes()) {
            n.inputs().stream().filter(s -> !s.isEmpty()).forEach(work::push);
            n.subgraphs().forEach(s -> collectReads(s, work));
        }
    }
}
