package org.onnxfuse.fusion.solve;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.fusion.ops.LayerNormPattern;
import org.onnxfuse.fusion.plan.LevelOp;
import org.onnxfuse.fusion.plan.PerNeuronOp;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Names;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * Reads and writes the per-neuron parameters of a normalisation that stays in the graph as the
 * per-neuron affine map it ends with: a BatchNormalization that is not folded into an affine op
 * (it follows a join or an activation) computes y = a x + b in inference mode, with
 * a = scale / sqrt(var + eps) and b = B - mean a; a LayerNormalization over the neurons computes
 * y = a n(x) + b with a = Scale, b = B and n the normalisation over the neurons.
 */
public final class NormWriter {
    private NormWriter() {
    }

    /**
     * {a, b}, one value per neuron, of the per-neuron op {@code op} of {@code graph} (the graph it
     * was planned on): a BatchNormalization, a LayerNormalization or a decomposed LayerNorm.
     */
    public static double[][] affineForm(Graph graph, PerNeuronOp planned) {
        LevelOp op = planned.op();
        if (op.pattern()) {
            return decomposedLayerNormForm(new GraphView(graph), op);
        }
        if (ARITHMETIC.contains(op.node().opType())) {
            return spread(constantForm(new GraphView(graph), op, planned.neuronAxis()), planned.neuronsPerValue());
        }
        return affineForm(graph, op.node());
    }

    /** {@code form} with each column repeated {@code copies} times: a per-head value for each of its head's neurons. */
    private static double[][] spread(double[][] form, int copies) {
        if (copies == 1) {
            return form;
        }
        double[][] out = new double[form.length][form[0].length * copies];
        for (int row = 0; row < form.length; row++) {
            for (int j = 0; j < out[row].length; j++) {
                out[row][j] = form[row][j / copies];
            }
        }
        return out;
    }

    /**
     * The inverse of {@link #spread}: per group of {@code copies} columns (a head's neurons) their
     * mean, or their common value where they agree (so that a masked -inf stays -inf).
     */
    private static double[][] gather(double[][] form, int copies) {
        if (copies == 1) {
            return form;
        }
        double[][] out = new double[form.length][form[0].length / copies];
        for (int row = 0; row < form.length; row++) {
            for (int h = 0; h < out[row].length; h++) {
                double first = form[row][h * copies];
                double sum = 0;
                boolean equal = true;
                for (int a = 0; a < copies; a++) {
                    double v = form[row][h * copies + a];
                    sum += v;
                    equal &= v == first;
                }
                out[row][h] = equal ? first : sum / copies;
            }
        }
        return out;
    }

    /** Ops whose per-neuron parameter is a constant operand: arithmetic, and a parameter expanded to the batch. */
    private static final Set<String> ARITHMETIC = Set.of("Add", "Sub", "Mul", "Div", "Expand");

    /**
     * The form of an Add, Sub, Mul or Div of a constant c that varies along the neurons (and maybe
     * along positions, a position embedding): per position p, y = a_p x + b_p with (a_p, b_p) =
     * (1, c_p), (1, -c_p), (c_p, 0) or (1 / c_p, 0); a parameter expanded to the batch (a class
     * token) counts as an Add of its values. Rows [0, P) hold a, rows [P, 2P) hold b.
     */
    private static double[][] constantForm(GraphView view, LevelOp op, int neuronAxis) {
        Node node = op.node();
        String name = node.inputs().stream().filter(view::isConstant).findFirst().orElseThrow();
        Tensor t = view.constant(name).orElseThrow();
        PerNeuronLayout layout = PerNeuronLayout.of(t.dims(), op.outputShape().size(), neuronAxis, -1);
        float[] c = t.toFloats();
        int n = layout.neurons();
        int positions = layout.positions();
        double[][] out = new double[2 * positions][n];
        for (int p = 0; p < positions; p++) {
            for (int j = 0; j < n; j++) {
                double v = c[layout.index(j, p)];
                switch (node.opType()) {
                    case "Add", "Expand" -> {
                        out[p][j] = 1;
                        out[positions + p][j] = v;
                    }
                    case "Sub" -> {
                        out[p][j] = 1;
                        out[positions + p][j] = -v;
                    }
                    case "Mul" -> out[p][j] = v;
                    default -> out[p][j] = 1.0 / v;
                }
            }
        }
        return out;
    }

    /** An Add, Sub, Mul or Div's constant rewritten from its form (the part its op cannot hold must be the identity). */
    private static Graph writeConstant(Graph graph, Node node, LevelOp planned, int neuronAxis, double[][] form) {
        String op = node.opType();
        boolean shift = op.equals("Add") || op.equals("Sub") || op.equals("Expand");
        int positions = form.length / 2;
        int c = form[0].length;
        for (int p = 0; p < positions; p++) {
            double[] unused = shift ? form[p] : form[positions + p];
            double identity = shift ? 1 : 0;
            for (double v : unused) {
                if (Math.abs(v - identity) > 1e-6) {
                    throw new OnnxFuseException(ErrorCode.INTERNAL, "node " + node.describe() + " can only write a"
                            + " per-neuron " + (shift ? "shift" : "scale") + ", found " + v);
                }
            }
        }
        GraphView view = new GraphView(graph);
        String old = node.inputs().stream().filter(view::isConstant).findFirst().orElseThrow();
        long[] oldDims = view.constant(old).orElseThrow().dims();
        PerNeuronLayout layout = PerNeuronLayout.of(oldDims, planned.outputShape().size(), neuronAxis, c);
        if (layout.positions() != positions) {
            throw new OnnxFuseException(ErrorCode.INTERNAL, "node " + node.describe() + ": " + positions
                    + " positions to write into a constant of " + layout.positions());
        }
        float[] v = new float[c * positions];
        for (int p = 0; p < positions; p++) {
            for (int j = 0; j < c; j++) {
                v[layout.index(j, p)] = (float) switch (op) {
                    case "Add", "Expand" -> form[positions + p][j];
                    case "Sub" -> -form[positions + p][j];
                    case "Mul" -> form[p][j];
                    default -> 1.0 / form[p][j];
                };
            }
        }
        String name = Names.fresh((node.name().isEmpty() ? node.outputs().get(0) : node.name()) + "_fused_constant",
                Names.usedIn(graph));
        Graph.Builder builder = graph.toBuilder();
        builder.addInitializer(Tensor.ofFloats(name, layout.dims(), v));
        builder.replaceNode(node, node.withInputs(node.inputs().stream().map(in -> in.equals(old) ? name : in).toList()));
        if (graph.initializer(old).isPresent() && graph.consumers(old).size() == 1 && !isGraphOutput(graph, old)) {
            builder.removeInitializer(old);
        }
        return builder.build();
    }

    /** The Mul's and Add's constants of a decomposed LayerNorm; 1 and 0 where it has none. */
    private static double[][] decomposedLayerNormForm(GraphView view, LevelOp op) {
        Node[] affine = LayerNormPattern.affineNodes(op.nodes());
        float[] scale = affine[0] == null ? null : constantOperand(view, affine[0]);
        float[] bias = affine[1] == null ? null : constantOperand(view, affine[1]);
        int n = scale != null ? scale.length : bias != null ? bias.length
                : Math.toIntExact(op.outputShape().get(op.outputShape().size() - 1).value());
        if ((scale != null && scale.length != n) || (bias != null && bias.length != n)) {
            throw new ModelFormatException(ErrorCode.INVALID_MODEL, "the LayerNorm at " + GraphView.quote(op.node())
                    + " scales and shifts by " + (scale == null ? 0 : scale.length) + " and "
                    + (bias == null ? 0 : bias.length) + " values; expected one per neuron each");
        }
        double[][] out = new double[2][n];
        for (int j = 0; j < n; j++) {
            out[0][j] = scale == null ? 1 : scale[j];
            out[1][j] = bias == null ? 0 : bias[j];
        }
        return out;
    }

    private static float[] constantOperand(GraphView view, Node binary) {
        for (String in : binary.inputs()) {
            if (view.isConstant(in)) {
                return view.constant(in).orElseThrow().toFloats();
            }
        }
        throw new ModelFormatException(ErrorCode.INVALID_MODEL, "node " + GraphView.quote(binary) + " has no constant"
                + " operand; expected the LayerNorm's per-neuron parameter");
    }

    /** {a, b}, one value per channel, of the normalisation {@code node} of {@code graph}. */
    public static double[][] affineForm(Graph graph, Node node) {
        GraphView view = new GraphView(graph);
        if (node.opType().equals("LayerNormalization")) {
            float[] scale = param(view, node, 1);
            boolean hasBias = node.inputs().size() > 2 && !node.inputs().get(2).isEmpty();
            float[] bias = hasBias ? param(view, node, 2) : new float[scale.length];
            if (bias.length != scale.length) {
                throw new ModelFormatException(ErrorCode.INVALID_MODEL, "node " + GraphView.quote(node) + " has a"
                        + " Scale of " + scale.length + " values and a B of " + bias.length + "; expected one per neuron"
                        + " each");
            }
            double[][] out = new double[2][scale.length];
            for (int j = 0; j < scale.length; j++) {
                out[0][j] = scale[j];
                out[1][j] = bias[j];
            }
            return out;
        }
        float[] scale = param(view, node, 1);
        float[] beta = param(view, node, 2);
        float[] mean = param(view, node, 3);
        float[] var = param(view, node, 4);
        double eps = node.floatAttribute("epsilon", 1e-5f);
        int c = scale.length;
        if (beta.length != c || mean.length != c || var.length != c) {
            throw new ModelFormatException(ErrorCode.INVALID_MODEL, "node " + GraphView.quote(node) + " has parameters"
                    + " of " + c + ", " + beta.length + ", " + mean.length + " and " + var.length + " values; expected"
                    + " one per channel each");
        }
        double[][] out = new double[2][c];
        for (int j = 0; j < c; j++) {
            double a = scale[j] / Math.sqrt(var[j] + eps);
            out[0][j] = a;
            out[1][j] = beta[j] - mean[j] * a;
        }
        return out;
    }

    /**
     * {@code graph} with the BatchNormalization that writes what {@code planned} wrote computing
     * y = a x + b per channel (as many channels as {@code a} has): mean 0, variance 1 and the
     * scale corrected for epsilon. Its parameters become new initializers of its own; the old
     * ones are removed where nothing else reads them.
     */
    public static Graph writeAffine(Graph graph, PerNeuronOp planned, double[][] form) {
        LevelOp op = planned.op();
        if (op.pattern()) {
            return writeDecomposedLayerNorm(graph, op, form[0], form[1]);
        }
        if (ARITHMETIC.contains(op.node().opType())) {
            Node node = graph.producer(op.output()).orElseThrow(() -> new OnnxFuseException(ErrorCode.INTERNAL,
                    "node " + op.node().describe() + " is no longer in the fused graph"));
            return writeConstant(graph, node, op, planned.neuronAxis(), gather(form, planned.neuronsPerValue()));
        }
        return writeAffine(graph, op.node(), form[0], form[1]);
    }

    /** A decomposed LayerNorm's Mul and Add constants replaced by {@code a} and {@code b}. */
    private static Graph writeDecomposedLayerNorm(Graph graph, LevelOp planned, double[] a, double[] b) {
        Node[] affine = LayerNormPattern.affineNodes(planned.nodes());
        double[][] values = {a, b};
        double[] identity = {1, 0};
        Graph out = graph;
        for (int i = 0; i < 2; i++) {
            if (affine[i] == null) {
                for (double v : values[i]) {
                    if (v != identity[i]) {
                        throw new OnnxFuseException(ErrorCode.INTERNAL, "the LayerNorm at "
                                + GraphView.quote(planned.node()) + " has no " + (i == 0 ? "scale" : "bias")
                                + " to write " + v + " into");
                    }
                }
                continue;
            }
            String written = affine[i].outputs().get(0);
            Graph current = out;
            Node node = current.producer(written).orElseThrow(() -> new OnnxFuseException(ErrorCode.INTERNAL,
                    "node " + affine[0].describe() + " is no longer in the fused graph"));
            String old = node.inputs().stream().filter(in -> current.initializer(in).isPresent()).findFirst()
                    .orElseThrow(() -> new OnnxFuseException(ErrorCode.INTERNAL, "node " + node.describe()
                            + " has no initializer operand"));
            float[] v = new float[values[i].length];
            for (int j = 0; j < v.length; j++) {
                v[j] = (float) values[i][j];
            }
            String name = Names.fresh((node.name().isEmpty() ? written : node.name())
                    + (i == 0 ? "_fused_scale" : "_fused_bias"), Names.usedIn(current));
            Graph.Builder builder = current.toBuilder();
            builder.addInitializer(Tensor.ofFloats(name, new long[] {v.length}, v));
            builder.replaceNode(node, node.withInputs(node.inputs().stream().map(in -> in.equals(old) ? name : in)
                    .toList()));
            if (current.consumers(old).size() == 1 && !isGraphOutput(current, old)) {
                builder.removeInitializer(old);
            }
            out = builder.build();
        }
        return out;
    }

    /** As {@link #writeAffine(Graph, PerNeuronOp, double[][])} for a single-node normalisation: a and b. */
    public static Graph writeAffine(Graph graph, Node planned, double[] a, double[] b) {
        Node node = graph.producer(planned.outputs().get(0)).orElseThrow(() -> new OnnxFuseException(
                ErrorCode.INTERNAL, "node " + planned.describe() + " is no longer in the fused graph"));
        if (node.opType().equals("LayerNormalization")) {
            return writeLayerNorm(graph, node, a, b);
        }
        double eps = node.floatAttribute("epsilon", 1e-5f);
        int c = a.length;
        float[] scale = new float[c];
        float[] shift = new float[c];
        float[] zeros = new float[c];
        float[] ones = new float[c];
        for (int j = 0; j < c; j++) {
            scale[j] = (float) (a[j] * Math.sqrt(1 + eps));
            shift[j] = (float) b[j];
            ones[j] = 1f;
        }
        Graph.Builder builder = graph.toBuilder();
        String base = node.name().isEmpty() ? node.outputs().get(0) : node.name();
        Set<String> used = Names.usedIn(graph);
        List<String> inputs = new ArrayList<>(node.inputs());
        float[][] values = {scale, shift, zeros, ones};
        String[] suffixes = {"_fused_scale", "_fused_bias", "_fused_mean", "_fused_var"};
        for (int i = 0; i < 4; i++) {
            String name = Names.fresh(base + suffixes[i], used);
            builder.addInitializer(Tensor.ofFloats(name, new long[] {c}, values[i]));
            inputs.set(i + 1, name);
        }
        builder.replaceNode(node, node.withInputs(inputs));
        for (int i = 1; i < 5; i++) {
            String old = node.inputs().get(i);
            if (graph.initializer(old).isPresent() && graph.consumers(old).size() == 1
                    && !isGraphOutput(graph, old)) {
                builder.removeInitializer(old);
            }
        }
        return builder.build();
    }

    /** A LayerNormalization's Scale and B replaced by {@code a} and {@code b} (B added when it had none). */
    private static Graph writeLayerNorm(Graph graph, Node node, double[] a, double[] b) {
        int c = a.length;
        float[] scale = new float[c];
        float[] shift = new float[c];
        for (int j = 0; j < c; j++) {
            scale[j] = (float) a[j];
            shift[j] = (float) b[j];
        }
        Graph.Builder builder = graph.toBuilder();
        String base = node.name().isEmpty() ? node.outputs().get(0) : node.name();
        Set<String> used = Names.usedIn(graph);
        List<String> inputs = new ArrayList<>(node.inputs());
        while (inputs.size() < 3) {
            inputs.add("");
        }
        List<String> old = List.copyOf(inputs.subList(1, 3));
        float[][] values = {scale, shift};
        String[] suffixes = {"_fused_scale", "_fused_bias"};
        for (int i = 0; i < 2; i++) {
            String name = Names.fresh(base + suffixes[i], used);
            builder.addInitializer(Tensor.ofFloats(name, new long[] {c}, values[i]));
            inputs.set(i + 1, name);
        }
        builder.replaceNode(node, node.withInputs(inputs));
        for (String name : old) {
            if (!name.isEmpty() && graph.initializer(name).isPresent() && graph.consumers(name).size() == 1
                    && !isGraphOutput(graph, name)) {
                builder.removeInitializer(name);
            }
        }
        return builder.build();
    }

    private static float[] param(GraphView view, Node bn, int input) {
        String name = bn.inputs().get(input);
        return view.constant(name).orElseThrow(() -> new ModelFormatException(ErrorCode.INVALID_MODEL, "node "
                + GraphView.quote(bn) + " reads '" + name + "' from " + view.origin(name)
                + "; its parameters must be constants")).toFloats();
    }

    private static boolean isGraphOutput(Graph g, String name) {
        return g.outputs().stream().anyMatch(v -> v.name().equals(name));
    }


}
