package org.onnxfuse.fusion.plan;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.fusion.ops.ShapeComputation;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * Folds the slices of a packed in-projection whose bounds an exporter computes from an
 * activation's feature count: torch's {@code nn.MultiheadAttention} cross-attention (key is value,
 * query is not) splits {@code in_proj_weight} and {@code in_proj_bias} into the query's part and
 * the key/value part with {@code w.split([E, 2 E])}, E read at run time as {@code query.size(-1)},
 * and projects each with its own MatMul of the transposed slice (+ the bias slice). Constant
 * folding cannot take these Slices (the query's shape is not declared); here E is the rows of
 * the weight the query is multiplied by, so each bound is evaluated with {@link ShapeComputation}
 * and the Slice becomes an initializer, after which folding takes the Transpose.
 *
 * <p>Taken: a Slice of an initializer whose other inputs are constants or computed only from
 * the shapes of values that are the left operand of a MatMul by a transposed ([1, 0]) row slice
 * of a 2-d initializer W (their last size is W's columns), every bound a number whatever the
 * other sizes and the rank (evaluated at ranks 3 and 4). Anything else is left as it is.
 */
final class InProjectionSlices {
    private InProjectionSlices() {
    }

    /** {@code model} with every such Slice folded into an initializer; the same model when there is none. */
    static Model fold(Model model) {
        Graph g = model.graph();
        GraphView view = new GraphView(g);
        Map<String, Long> widths = featureCounts(g, view);
        if (widths.isEmpty()) {
            return model;
        }
        Map<Node, Tensor> folded = new IdentityHashMap<>();
        Set<Node> computations = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Node n : g.nodes()) {
            if (isSliceOfInitializer(n, g)) {
                evaluated(n, g, view, widths).ifPresent(t -> {
                    folded.put(n, t);
                    n.inputs().forEach(in -> ShapeComputation.nodesFromShapes(in, view).ifPresent(computations::addAll));
                });
            }
        }
        if (folded.isEmpty()) {
            return model;
        }
        List<Node> nodes = g.nodes().stream().filter(n -> !folded.containsKey(n)).toList();
        Graph.Builder b = g.toBuilder().nodes(nodes);
        folded.values().forEach(b::addInitializer);
        List<String> sliced = folded.keySet().stream().map(n -> n.inputs().get(0)).toList();
        return GraphRewrite.finish(g, b, nodes, computations, sliced).map(model::withGraph).orElse(model);
    }

    private static boolean isSliceOfInitializer(Node n, Graph g) {
        return n.isDefaultDomain() && n.opType().equals("Slice") && n.inputs().size() >= 3 && n.outputs().size() == 1
                && g.initializer(n.inputs().get(0)).isPresent();
    }

    /**
     * The values multiplied (MatMul input 0) by Transpose([1, 0]) of a Slice along axis 0 of a
     * 2-d initializer W, with their last size: W's columns.
     */
    private static Map<String, Long> featureCounts(Graph g, GraphView view) {
        Map<String, Long> out = new HashMap<>();
        for (Node n : g.nodes()) {
            if (!n.isDefaultDomain() || !n.opType().equals("MatMul") || n.inputs().size() != 2
                    || view.isConstant(n.inputs().get(0))) {
                continue;
            }
            Node t = g.producer(n.inputs().get(1)).orElse(null);
            if (t == null || !GraphRewrite.isTranspose(t, 1, 0)) {
                continue;
            }
            Node s = g.producer(t.inputs().get(0)).orElse(null);
            if (s == null || !isSliceOfInitializer(s, g) || s.inputs().size() < 4
                    || !view.constant(s.inputs().get(3)).map(a -> a.elementCount() == 1 && a.toLongs()[0] == 0)
                    .orElse(false)) {
                continue;
            }
            Tensor w = g.initializer(s.inputs().get(0)).orElseThrow();
            if (w.rank() == 2) {
                out.merge(n.inputs().get(0), w.dims()[1], (a, c) -> a.equals(c) ? a : -1L);
            }
        }
        out.values().removeIf(v -> v < 0);
        return out;
    }

    /** The Slice's output as an initializer, when every computed bound is a number. */
    private static Optional<Tensor> evaluated(Node slice, Graph g, GraphView view, Map<String, Long> widths) {
        Map<String, Tensor> constants = new HashMap<>(g.initializers());
        for (String in : slice.inputs().subList(1, slice.inputs().size())) {
            if (in.isEmpty() || view.isConstant(in)) {
                view.constant(in).ifPresent(t -> constants.put(in, t));
                continue;
            }
            long[] at3 = bounds(in, slice, view, widths, 3);
            long[] at4 = bounds(in, slice, view, widths, 4);
            if (at3 == null || !java.util.Arrays.equals(at3, at4)) {
                return Optional.empty();
            }
            constants.put(in, Tensor.ofLongs(in, new long[] {at3.length}, at3));
        }
        try {
            return ConstantEvaluation.evaluate(slice, constants, g).map(t -> t.get(0));
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }

    /** {@code value}'s elements, each a number, with the shapes read of rank {@code rank}; null otherwise. */
    private static long[] bounds(String value, Node slice, GraphView view, Map<String, Long> widths, int rank) {
        Function<String, List<Dim>> shapes = v -> {
            Long width = widths.get(v);
            if (width == null) {
                throw new IllegalStateException("no shape for '" + v + "'");
            }
            List<Dim> s = new ArrayList<>();
            for (int i = 0; i < rank - 1; i++) {
                s.add(Dim.symbol("#" + v + "_" + i));
            }
            s.add(Dim.of(width));
            return s;
        };
        try {
            List<ShapeComputation.Term> terms = ShapeComputation.terms(value, view, shapes, slice);
            if (terms.stream().anyMatch(t -> !t.known())) {
                return null;
            }
            return terms.stream().mapToLong(ShapeComputation.Term::factor).toArray();
        } catch (RuntimeException e) {
            return null;
        }
    }
}
