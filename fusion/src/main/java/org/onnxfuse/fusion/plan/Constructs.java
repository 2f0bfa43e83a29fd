package org.onnxfuse.fusion.plan;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.onnxfuse.fusion.ops.AttentionPattern;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Finds, by their usual export patterns, the constructs the planner does not place in levels yet,
 * so that a refusal can name all of them at once, in a user's terms (attention, LSTM,
 * ...), rather than only the first node that stopped the planner.
 */
public final class Constructs {
    private static final Set<String> RECURRENT = Set.of("LSTM", "GRU", "RNN");
    private static final Set<String> CONTROL_FLOW = Set.of("Loop", "If", "Scan");

    private Constructs() {
    }

    /** A construct and where it is: the name, the first nodes (by name) and what a user can do. */
    public record Found(String construct, List<String> nodes, String advice) {
        public Found {
            nodes = List.copyOf(nodes);
        }

        String describe() {
            String where = nodes.stream().limit(2).map(n -> "'" + n + "'").collect(Collectors.joining(", "));
            int more = nodes.size() - Math.min(2, nodes.size());
            return construct + " at " + where + (more > 0 ? " and " + more + " more" : "") + " (" + advice + ")";
        }
    }

    /** Every construct found in {@code graph}, in the order of the table above, each once. */
    public static List<Found> find(Graph graph) {
        Map<String, List<String>> at = new LinkedHashMap<>();
        Map<String, String> advice = new LinkedHashMap<>();
        String transformers = "attention is fused where q, k and v come from their own projections (or one packed"
                + " projection cut by Slices) and are reshaped to [batch, tokens, heads, dims] with the batch on axis 0,"
                + " and in torch's nn.MultiheadAttention export (self- or cross-attention, key = value or not, batch"
                + " first, or tokens first between transposes of a batch-first model input), which is rewritten to that"
                + " form, a key_padding_mask from an int64 or bool model input included; this form is not followed yet"
                + " (a model input with the batch on another axis than 0, or a mask computed from a float input or one"
                + " that varies along the heads, among them)";
        Set<Node> followed = Collections.newSetFromMap(new IdentityHashMap<>());
        AttentionPattern.find(new GraphView(graph)).forEach(core -> followed.add(core.softmax()));
        List<String> tokensFirst = graph.nodes().stream().anyMatch(n -> n.opType().equals("Softmax")
                && feedsMatMul(graph, n) && !followed.contains(n)) ? MultiheadAttentionLayout.tokensFirstInputs(graph)
                : List.of();
        for (String input : tokensFirst) {
            ValueInfo v = graph.feedInputs().stream().filter(i -> i.name().equals(input)).findFirst().orElseThrow();
            String shape = v.tensorType() != null && v.tensorType().hasShape()
                    ? " " + org.onnxfuse.fusion.ops.Shapes.format(v.tensorType().shape()) : "";
            for (Node n : graph.nodes()) {
                if (n.opType().equals("Softmax") && feedsMatMul(graph, n) && !followed.contains(n)) {
                    add(at, advice, "model input '" + input + "'" + shape + " tokens first (batch on axis 1), read by"
                            + " torch's nn.MultiheadAttention", n, "the attention reads axis 1 of '" + input + "' as"
                            + " the batch; onnx-fuse expects the batch on axis 0 of every model input (calibration and"
                            + " evaluation data are cut into samples along axis 0, and the planner follows the batch"
                            + " there): export the model with a batch-first input [batch, tokens, features] and move"
                            + " it tokens first inside the model (x.transpose(0, 1)), which is planned");
                    followed.add(n);
                }
            }
        }
        for (Node n : graph.nodes()) {
            String op = n.opType();
            if (op.equals("Softmax") && feedsMatMul(graph, n) && !followed.contains(n)) {
                add(at, advice, "attention (Softmax of scores, then MatMul)", n, transformers);
            } else if (RECURRENT.contains(op)) {
                add(at, advice, "recurrent layer (" + op + ")", n, "recurrent layers are not supported");
            } else if (CONTROL_FLOW.contains(op)) {
                add(at, advice, "control flow (" + op + ")", n, "not supported; export a traced model with fixed"
                        + " loop counts so the graph has no Loop/If/Scan");
            } else if (op.equals("Conv") && isGrouped(graph, n)) {
                add(at, advice, "grouped convolution (1 < group < channels)", n, "not supported yet; group=1 and"
                        + " depthwise convolutions are");
            } else if (op.equals("Transpose") && isChannelShuffle(graph, n)) {
                add(at, advice, "channel shuffle (Reshape, Transpose, Reshape)", n, "not supported yet");
            }
        }
        List<Found> found = new ArrayList<>();
        at.forEach((construct, nodes) -> found.add(new Found(construct, nodes, advice.get(construct))));
        return found;
    }

    /**
     * The refusal in a user's terms when {@code graph} holds constructs the planner does not place
     * yet: every construct with where it is and what to do, then the node the planner stopped at
     * (without the list of supported ops, which says less than the constructs do); empty when none
     * is found, and the planner's own message stands.
     */
    public static Optional<String> refusal(Graph graph, String plannerMessage) {
        List<Found> found = find(graph);
        if (found.isEmpty()) {
            return Optional.empty();
        }
        String stoppedAt = plannerMessage;
        int list = stoppedAt.indexOf(": supported ops are");
        if (list > 0) {
            stoppedAt = stoppedAt.substring(0, list);
        }
        return Optional.of("constructs in this model that onnx-fuse does not fuse yet: "
                + found.stream().map(Found::describe).collect(Collectors.joining("; "))
                + " (the planner stopped first at " + stoppedAt + ")");
    }

    private static void add(Map<String, List<String>> at, Map<String, String> advice, String construct, Node node,
                            String what) {
        at.computeIfAbsent(construct, k -> new ArrayList<>()).add(node.name().isEmpty() ? node.opType() : node.name());
        advice.putIfAbsent(construct, what);
    }

    private static boolean feedsMatMul(Graph graph, Node softmax) {
        return graph.consumers(softmax.outputs().get(0)).stream().anyMatch(c -> c.opType().equals("MatMul"));
    }

    private static boolean isGrouped(Graph graph, Node conv) {
        long group = conv.longAttribute("group", 1);
        if (group <= 1 || conv.inputs().size() < 2) {
            return false;
        }
        Optional<Tensor> weight = graph.initializer(conv.inputs().get(1));
        // depthwise: one input channel per group and one output channel per group
        return weight.map(w -> !(w.dims().length > 1 && w.dims()[1] == 1 && w.dims()[0] == group)).orElse(true);
    }

    private static boolean isChannelShuffle(Graph graph, Node transpose) {
        boolean fromReshape = graph.producer(transpose.inputs().get(0)).map(p -> p.opType().equals("Reshape"))
                .orElse(false);
        boolean toReshape = graph.consumers(transpose.outputs().get(0)).stream()
                .anyMatch(c -> c.opType().equals("Reshape"));
        return fromReshape && toReshape;
    }
}
