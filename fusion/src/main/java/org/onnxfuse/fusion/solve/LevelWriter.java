package org.onnxfuse.fusion.solve;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelOp;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Names;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * Writes a level's fused weights into a graph: the inverse of
 * {@link org.onnxfuse.fusion.plan.LevelWeights#read}. The matrix is fan-in x k, rows ordered as
 * the op reads its input (Conv: (c_in, ky, kx)), the bias in the last row when the level has one.
 *
 * <ul>
 *   <li>Gemm: B in the node's layout (transB kept), alpha and beta set to 1; C written, or added as
 *       a new initializer input when the op had none.</li>
 *   <li>MatMul: B [in, k]; the bias Add's initializer, keeping its leading 1 axes; a new bias Add
 *       when the op had none but the fit has a bias (a folded BatchNormalization).</li>
 *   <li>Conv: W [k, C_in, kernel...] with C_in = in / prod(kernel); B written or added.</li>
 *   <li>A folded BatchNormalization is <b>removed</b>, and the node before it writes the cut
 *       tensor instead: its effect is already in the written weights, and removal is exact where
 *       an "identity" BN (scale 1, mean 0, var 1 - eps) would round.</li>
 * </ul>
 * When k differs from the template's width, declared value_info shapes of the tensors between
 * this cut and the next affine op are dropped (they would be stale), and a Reshape in the next
 * level with a constant target shape that has no -1 gets the entry holding the channels scaled to
 * k. The next level's own weights are rewritten when that level is solved, with its new fan-in.
 */
public final class LevelWriter {
    private LevelWriter() {
    }

    /**
     * @param graph   the fused graph, with this level still as planned on the template
     * @param level   the level, planned on the template graph
     * @param next    the following level (planned on the template), or null for the last
     * @param weights fan-in x k; the last row is the bias when {@code level.hasBias()}
     */
    public static Graph write(Graph graph, Level level, Level next, DenseMatrix weights) {
        int k = weights.cols();
        int in = weights.rows() - (level.hasBias() ? 1 : 0);
        Node affine = current(graph, level.affine());
        Graph.Builder b = graph.toBuilder();
        Node lastWriter;
        switch (level.affineOpType()) {
            case "Gemm" -> lastWriter = writeGemm(graph, b, affine, level, weights, in, k);
            case "MatMul" -> lastWriter = writeMatMul(graph, b, affine, level, weights, in, k);
            case "Conv" -> lastWriter = writeConv(graph, b, affine, level, weights, in, k);
            default -> throw new OnnxFuseException(ErrorCode.UNSUPPORTED_OP, "level " + level.index() + " ends in "
                    + level.affineOpType() + "; expected Gemm, MatMul or Conv");
        }
        Set<String> stale = new HashSet<>();
        if (level.foldedNorm() != null) {
            Node bn = current(graph, level.foldedNorm());
            String cut = bn.outputs().get(0);
            String pre = bn.inputs().get(0);
            stale.add(pre);
            b.removeNode(bn);
            List<String> outs = new ArrayList<>(lastWriter.outputs());
            outs.set(0, cut);
            b.replaceNode(lastWriter, lastWriter.withOutputs(outs));
            for (int i = 1; i < bn.inputs().size(); i++) {
                String p = bn.inputs().get(i);
                if (!p.isEmpty() && graph.consumers(p).size() == 1 && graph.initializer(p).isPresent()) {
                    b.removeInitializer(p);
                }
            }
        }
        if (k != level.width()) {
            level.nodes().forEach(n -> stale.addAll(n.outputs()));
            if (next != null) {
                next.opNodes().forEach(n -> stale.addAll(n.outputs()));
                fixReshapes(graph, b, next, level.width(), k);
            }
            stale.add(level.cut());
        }
        if (!stale.isEmpty()) {
            b.valueInfos(graph.valueInfos().stream().filter(v -> !stale.contains(v.name())).toList());
        }
        return b.build();
    }

    /** The node of {@code graph} that produces what {@code planned} produced. */
    private static Node current(Graph graph, Node planned) {
        return graph.producer(planned.outputs().get(0)).orElseThrow(() -> new OnnxFuseException(ErrorCode.INTERNAL,
                "node " + planned.describe() + " is no longer in the fused graph"));
    }

    private static Node writeGemm(Graph g, Graph.Builder b, Node node, Level level, DenseMatrix w, int in, int k) {
        boolean transB = node.longAttribute("transB", 0) != 0;
        float[] values = new float[in * k];
        for (int i = 0; i < in; i++) {
            for (int j = 0; j < k; j++) {
                values[transB ? j * in + i : i * k + j] = (float) w.get(i, j);
            }
        }
        Tensor old = g.initializer(node.inputs().get(1)).orElseThrow();
        b.putInitializer(old.withFloats(transB ? new long[] {k, in} : new long[] {in, k}, values));
        Node updated = node;
        if (node.attribute("alpha").isPresent()) {
            updated = updated.withAttribute(Attribute.ofFloat("alpha", 1f));
        }
        if (level.hasBias()) {
            if (node.attribute("beta").isPresent()) {
                updated = updated.withAttribute(Attribute.ofFloat("beta", 1f));
            }
            updated = writeBiasInput(g, b, updated, 2, bias(w, in), k);
        }
        b.replaceNode(node, updated);
        return updated;
    }

    private static Node writeConv(Graph g, Graph.Builder b, Node node, Level level, DenseMatrix w, int in, int k) {
        Tensor old = g.initializer(node.inputs().get(1)).orElseThrow();
        long[] dims = old.dims();
        long kernel = 1;
        for (int i = 2; i < dims.length; i++) {
            kernel *= dims[i];
        }
        if (in % kernel != 0) {
            throw new OnnxFuseException(ErrorCode.INTERNAL, "level " + level.index() + ": " + in
                    + " input features are not a multiple of the kernel size " + kernel + " of " + node.describe());
        }
        dims[0] = k;
        dims[1] = in / kernel;
        float[] values = new float[in * k];
        for (int o = 0; o < k; o++) {
            for (int r = 0; r < in; r++) {
                values[o * in + r] = (float) w.get(r, o);
            }
        }
        b.putInitializer(old.withFloats(dims, values));
        Node updated = node;
        if (level.depthwise()) {
            updated = updated.withAttribute(Attribute.ofLong("group", k));
        }
        if (level.hasBias()) {
            updated = writeBiasInput(g, b, updated, 2, bias(w, in), k);
        }
        b.replaceNode(node, updated);
        return updated;
    }

    private static Node writeMatMul(Graph g, Graph.Builder b, Node node, Level level, DenseMatrix w, int in, int k) {
        float[] values = new float[in * k];
        for (int i = 0; i < in; i++) {
            for (int j = 0; j < k; j++) {
                values[i * k + j] = (float) w.get(i, j);
            }
        }
        Tensor old = g.initializer(node.inputs().get(1)).orElseThrow();
        b.putInitializer(old.withFloats(new long[] {in, k}, values));
        if (!level.hasBias()) {
            return node;
        }
        float[] bias = bias(w, in);
        if (level.biasAdd() != null) {
            Node add = current(g, level.biasAdd());
            String mmOut = node.outputs().get(0);
            String biasName = add.inputs().get(0).equals(mmOut) ? add.inputs().get(1) : add.inputs().get(0);
            Tensor oldBias = g.initializer(biasName).orElseThrow();
            long[] dims = oldBias.dims();
            dims[dims.length - 1] = k;
            b.putInitializer(oldBias.withFloats(dims, bias));
            return add;
        }
        // the bias came from a folded norm: a new Add carries it, and the norm's removal rewires
        String base = node.name().isEmpty() ? node.outputs().get(0) : node.name();
        String biasName = unique(g, base + "_fused_bias");
        String mmOut = unique(g, base + "_fused_out");
        b.addInitializer(Tensor.ofFloats(biasName, new long[] {k}, bias));
        Node mm = node.withOutputs(List.of(mmOut));
        b.replaceNode(node, mm);
        Node add = Node.of(unique(g, base + "_fused_bias_add"), "Add", List.of(mmOut, biasName),
                List.of(node.outputs().get(0)));
        b.addNode(add);
        return add;
    }

    /** Puts the bias into input {@code index} of {@code node}, adding an initializer input when absent. */
    private static Node writeBiasInput(Graph g, Graph.Builder b, Node node, int index, float[] bias, int k) {
        String name = index < node.inputs().size() ? node.inputs().get(index) : "";
        if (!name.isEmpty()) {
            Tensor old = g.initializer(name).orElseThrow();
            long[] dims = old.rank() == 2 ? new long[] {1, k} : new long[] {k};
            b.putInitializer(old.withFloats(dims, bias));
            return node;
        }
        String base = node.name().isEmpty() ? node.outputs().get(0) : node.name();
        String biasName = unique(g, base + "_fused_bias");
        b.addInitializer(Tensor.ofFloats(biasName, new long[] {k}, bias));
        List<String> inputs = new ArrayList<>(node.inputs());
        while (inputs.size() < index) {
            inputs.add("");
        }
        if (inputs.size() == index) {
            inputs.add(biasName);
        } else {
            inputs.set(index, biasName);
        }
        return node.withInputs(inputs);
    }

    private static float[] bias(DenseMatrix w, int in) {
        float[] out = new float[w.cols()];
        for (int j = 0; j < out.length; j++) {
            out[j] = (float) w.get(in, j);
        }
        return out;
    }

    private static void fixReshapes(Graph g, Graph.Builder b, Level next, long oldWidth, int k) {
        for (LevelOp op : next.ops()) {
            Node n = op.node();
            if (!n.opType().equals("Reshape") || n.inputs().size() < 2) {
                continue;
            }
            Tensor shape = g.initializer(n.inputs().get(1)).orElse(null);
            if (shape == null) {
                continue;   // computed from Shape ops: follows the new width by itself
            }
            long[] s = shape.toLongs();
            if (rescale(s, op.neuronAxis(), oldWidth, k)) {
                b.putInitializer(Tensor.ofLongs(shape.name(), shape.dims(), s));
            }
        }
    }

    /**
     * {@code graph} with every Reshape among {@code ops} whose target is a constant set for the
     * fused widths of the spaces on its planned neuron axis: the entry there, as written in
     * {@code template}, scaled from the spaces' widths in the template to {@code fusedWidths}
     * (space id -> k). Reshapes whose spaces are not all in {@code fusedWidths} yet are left;
     * computing from the template makes repeated calls harmless.
     */
    public static Graph fixReshapeTargets(Graph graph, Graph template, List<LevelOp> ops,
                                          Map<Integer, Long> templateWidths, Map<Integer, Integer> fusedWidths) {
        Graph.Builder b = null;
        for (LevelOp op : ops) {
            Node n = op.node();
            int axis = op.neuronAxis();
            if (!n.opType().equals("Reshape") || n.inputs().size() < 2 || axis < 1 || op.spaces().isEmpty()
                    || !fusedWidths.keySet().containsAll(op.spaces())) {
                continue;
            }
            Tensor original = template.initializer(n.inputs().get(1)).orElse(null);
            if (original == null) {
                continue;
            }
            long[] s = original.toLongs();
            long oldTotal = op.spaces().stream().mapToLong(templateWidths::get).sum();
            long newTotal = op.spaces().stream().mapToLong(fusedWidths::get).sum();
            if (oldTotal == newTotal || !rescale(s, axis, oldTotal, newTotal)) {
                continue;
            }
            Node current = current(graph, n);
            if (b == null) {
                b = graph.toBuilder();
            }
            b.putInitializer(Tensor.ofLongs(current.inputs().get(1), original.dims(), s));
        }
        return b == null ? graph : b.build();
    }

    /**
     * Scales the target entry on the neuron axis from {@code oldWidth} to {@code newWidth} neurons;
     * false (nothing changed) where the axis is unknown or the entry is -1 or 0, which follow the
     * new width by themselves, or not a multiple of the old width.
     */
    private static boolean rescale(long[] target, int axis, long oldWidth, long newWidth) {
        if (axis < 1 || axis >= target.length || target[axis] <= 0 || target[axis] % oldWidth != 0) {
            return false;
        }
        target[axis] = target[axis] / oldWidth * newWidth;
        return true;
    }

    private static String unique(Graph g, String base) {
        return Names.fresh(base, Names.usedIn(g));
    }
}
