package org.onnxfuse.fusion.plan;

import java.util.List;
import java.util.Optional;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * A projection the read-time rewrites take apart or move: a MatMul of an activation and a 2-d
 * initializer, and the Add of a 1-d initializer bias when that Add alone reads the product.
 *
 * @param output the value the projection writes: the bias Add's output, or the MatMul's
 */
record Projection(Node matmul, Tensor weight, Node bias, Tensor biasValue, String output) {
    /** The activation projected. */
    String input() {
        return matmul.inputs().get(0);
    }

    /** Output features: the weight's columns. */
    long width() {
        return weight.dims()[1];
    }

    /** The projection {@code matmul} starts, if it is one and its output is not a graph output. */
    static Optional<Projection> of(Graph g, GraphView view, Node matmul) {
        if (!matmul.isDefaultDomain() || !matmul.opType().equals("MatMul") || matmul.inputs().size() != 2) {
            return Optional.empty();
        }
        Optional<Tensor> weight = g.initializer(matmul.inputs().get(1));
        if (weight.isEmpty() || weight.get().rank() != 2 || view.isConstant(matmul.inputs().get(0))) {
            return Optional.empty();
        }
        String out = matmul.outputs().get(0);
        List<Node> readers = view.consumers(out);
        if (readers.size() == 1 && readers.get(0).isDefaultDomain() && readers.get(0).opType().equals("Add")) {
            Node add = readers.get(0);
            String other = add.inputs().get(0).equals(out) ? add.inputs().get(1) : add.inputs().get(0);
            Optional<Tensor> b = g.initializer(other);
            if (b.isEmpty() || b.get().rank() != 1 || b.get().dims()[0] != weight.get().dims()[1]) {
                return Optional.empty();
            }
            return view.isGraphOutput(add.outputs().get(0)) ? Optional.empty()
                    : Optional.of(new Projection(matmul, weight.get(), add, b.get(), add.outputs().get(0)));
        }
        return view.isGraphOutput(out) ? Optional.empty()
                : Optional.of(new Projection(matmul, weight.get(), null, null, out));
    }

    /** The projection whose output is {@code value}, if one writes it. */
    static Optional<Projection> writing(Graph g, GraphView view, String value) {
        Optional<Node> producer = g.producer(value);
        if (producer.isEmpty()) {
            return Optional.empty();
        }
        Node n = producer.get();
        if (n.opType().equals("Add") && n.inputs().size() == 2) {
            String product = view.isConstant(n.inputs().get(0)) ? n.inputs().get(1) : n.inputs().get(0);
            n = g.producer(product).orElse(null);
            if (n == null) {
                return Optional.empty();
            }
        }
        return of(g, view, n).filter(p -> p.output().equals(value));
    }
}
