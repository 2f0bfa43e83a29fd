package org.onnxfuse.fusion.testing;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import org.onnxfuse.fusion.baseline.SpaceAlignment;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.solve.LevelWriter;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * Reference edits of fixture parents: hidden neurons permuted or cut (MLP, MatMul and CNN levels
 * alike, via the level plan), and vanilla averaging. Edited levels are written with
 * {@link LevelWriter}, so a folded BatchNormalization of an edited level is removed and stale
 * declared shapes are dropped.
 */
public final class ModelEdits {
    private ModelEdits() {
    }

    /** A seeded random permutation of 0..n-1. */
    public static int[] shuffled(int n, long seed) {
        return shuffled(n, new Random(seed));
    }

    /** A random permutation of 0..n-1 (Fisher-Yates) drawn from {@code rng}. */
    public static int[] shuffled(int n, Random rng) {
        int[] p = firstN(n);
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    /** 0..n-1: picks that keep the first n neurons. */
    public static int[] firstN(int n) {
        int[] p = new int[n];
        Arrays.setAll(p, i -> i);
        return p;
    }

    /** Hidden level {@code level} (1-based) with neuron i taken from old neuron {@code pick[i]}. */
    public static Model select(Model model, int level, int[] pick) {
        return select(model, Map.of(level, pick));
    }

    /**
     * The model with, for each hidden level l (1-based) in {@code picks}, neuron i taken from old
     * neuron {@code picks.get(l)[i]}: the neurons of the level's space are selected alike
     * everywhere ({@link #selectSpaces}). A permutation gives the same function; fewer picks than
     * the width truncate the level.
     */
    public static Model select(Model model, Map<Integer, int[]> picks) {
        LevelPlan plan = LevelPlanner.plan(model);
        Map<Integer, int[]> bySpace = new TreeMap<>();
        for (Map.Entry<Integer, int[]> e : picks.entrySet()) {
            int l = e.getKey();
            if (l < 1 || l >= plan.levels().size()) {
                throw new IllegalArgumentException("level " + l + " is not a hidden level of 1.."
                        + (plan.levels().size() - 1));
            }
            bySpace.put(plan.level(l).space(), e.getValue());
        }
        return selectSpaces(model, bySpace);
    }

    /**
     * The model with, for each neuron space s in {@code picks}, neuron i of the space taken from
     * old neuron {@code picks.get(s)[i]} wherever the space appears ({@link SpaceAlignment}: the
     * output columns of every level writing it, the input rows of every level reading it, the
     * parameters of per-neuron ops on it). Only the levels and ops that change are rewritten.
     */
    public static Model selectSpaces(Model model, Map<Integer, int[]> picks) {
        return SpaceAlignment.selection(LevelPlanner.plan(model), picks).applyTo(model);
    }

    /**
     * The same function with the neurons of every space but the classes in a random order (one
     * generator, space by space; for a sequential network, level by level).
     */
    public static Model permuted(Model model, long seed) {
        LevelPlan plan = LevelPlanner.plan(model);
        Random rng = new Random(seed);
        Map<Integer, int[]> picks = new TreeMap<>();
        Map<Integer, int[]> headOrders = new TreeMap<>();
        for (org.onnxfuse.fusion.plan.NeuronSpace space : plan.spaces()) {
            if (space.levels().stream().noneMatch(l -> plan.level(l).last())) {
                if (space.headed()) {
                    // spaces sharing a head order (an attention's queries/keys and values) move their heads alike
                    int[] order = space.headsShared().stream().filter(headOrders::containsKey).findFirst()
                            .map(headOrders::get).orElseGet(() -> shuffled(space.heads(), rng));
                    headOrders.put(space.id(), order);
                    picks.put(space.id(), shuffledHeads(Math.toIntExact(space.width()), order, rng));
                } else {
                    picks.put(space.id(), shuffled(Math.toIntExact(space.width()), rng));
                }
            }
        }
        return selectSpaces(model, picks);
    }

    /**
     * A permutation of {@code order.length} heads of {@code width / heads} neurons: new head h is
     * old head {@code order[h]}, its neurons shuffled within it.
     */
    public static int[] shuffledHeads(int width, int[] order, Random rng) {
        int heads = order.length;
        int dim = width / heads;
        int[] out = new int[width];
        for (int h = 0; h < heads; h++) {
            int[] within = shuffled(dim, rng);
            for (int a = 0; a < dim; a++) {
                out[h * dim + a] = order[h] * dim + within[a];
            }
        }
        return out;
    }

    /**
     * Level {@code level}'s weight (the affine op's second input) times {@code factor}: another
     * function of the same plan, so that a fusion with the model has no exact linear fit there.
     */
    public static Model scaledWeight(Model model, int level, float factor) {
        Graph g = model.graph();
        Tensor w = g.initializer(LevelPlanner.plan(model).level(level).affine().inputs().get(1)).orElseThrow();
        float[] values = w.toFloats();
        for (int i = 0; i < values.length; i++) {
            values[i] *= factor;
        }
        return model.withGraph(g.toBuilder().putInitializer(w.withFloats(w.dims(), values)).build());
    }

    /** Hidden level {@code level} (1-based) cut down to its first {@code keep} neurons: a narrower parent. */
    public static Model truncated(Model model, int level, int keep) {
        return select(model, level, firstN(keep));
    }

    /** Vanilla averaging: the elementwise mean of every float initializer the parents share by name and shape. */
    public static Model average(List<Model> parents) {
        Graph g = parents.get(0).graph();
        Graph.Builder b = g.toBuilder();
        for (Tensor t : g.initializers().values()) {
            if (t.dataType() != DataType.FLOAT) {
                continue;
            }
            float[] sum = t.toFloats();
            for (int k = 1; k < parents.size(); k++) {
                float[] o = parents.get(k).graph().initializer(t.name()).orElseThrow().toFloats();
                for (int i = 0; i < sum.length; i++) {
                    sum[i] += o[i];
                }
            }
            for (int i = 0; i < sum.length; i++) {
                sum[i] /= parents.size();
            }
            b.putInitializer(t.withFloats(t.dims(), sum));
        }
        return parents.get(0).withGraph(b.build());
    }

    /**
     * {@code model} with its Flatten replaced by what torch exports for {@code x.view(x.size(0), -1)}:
     * Shape -> Gather(0) -> Unsqueeze -> Concat with [-1] -> Reshape, writing the same tensor.
     */
    public static Model viewInsteadOfFlatten(Model model) {
        Graph g = model.graph();
        org.onnxfuse.onnx.ir.Node flatten = g.nodes().stream().filter(n -> n.opType().equals("Flatten")).findFirst()
                .orElseThrow(() -> new AssertionError("the model has no Flatten"));
        String in = flatten.inputs().get(0);
        String out = flatten.outputs().get(0);
        Graph.Builder b = g.toBuilder();
        b.addInitializer(Tensor.ofLongs("view.zero", new long[0], new long[] {0}));
        b.addInitializer(Tensor.ofLongs("view.axes", new long[] {1}, new long[] {0}));
        b.addInitializer(Tensor.ofLongs("view.minus_one", new long[] {1}, new long[] {-1}));
        List<org.onnxfuse.onnx.ir.Node> nodes = new ArrayList<>();
        for (org.onnxfuse.onnx.ir.Node n : g.nodes()) {
            if (n != flatten) {
                nodes.add(n);
                continue;
            }
            nodes.add(org.onnxfuse.onnx.ir.Node.of("view.shape", "Shape", List.of(in), List.of("view.s")));
            nodes.add(org.onnxfuse.onnx.ir.Node.of("view.gather", "Gather", List.of("view.s", "view.zero"),
                    List.of("view.n"), org.onnxfuse.onnx.ir.Attribute.ofLong("axis", 0)));
            nodes.add(org.onnxfuse.onnx.ir.Node.of("view.unsqueeze", "Unsqueeze", List.of("view.n", "view.axes"),
                    List.of("view.n1")));
            nodes.add(org.onnxfuse.onnx.ir.Node.of("view.concat", "Concat", List.of("view.n1", "view.minus_one"),
                    List.of("view.target"), org.onnxfuse.onnx.ir.Attribute.ofLong("axis", 0)));
            nodes.add(org.onnxfuse.onnx.ir.Node.of("view.reshape", "Reshape", List.of(in, "view.target"),
                    List.of(out)));
        }
        return model.withGraph(b.nodes(nodes).build());
    }

    /** {@code model} with the batch axis of its input and output fixed to {@code batch}, as torch exports by default. */
    public static Model fixedBatch(Model model, long batch) {
        Graph g = model.graph();
        java.util.function.UnaryOperator<org.onnxfuse.onnx.ir.ValueInfo> fix = v -> {
            List<org.onnxfuse.onnx.ir.Dim> dims = new ArrayList<>(v.tensorType().shape());
            dims.set(0, org.onnxfuse.onnx.ir.Dim.of(batch));
            return org.onnxfuse.onnx.ir.ValueInfo.tensor(v.name(),
                    new org.onnxfuse.onnx.ir.TensorType(v.tensorType().elementType(), dims));
        };
        return model.withGraph(g.toBuilder().inputs(g.inputs().stream().map(fix).toList())
                .outputs(g.outputs().stream().map(fix).toList()).build());
    }

    /** {@code model} with (x - mean) / std written into the graph in front of everything that reads the input. */
    public static Model withInputNormalisation(Model model, float mean, float std) {
        Graph g = model.graph();
        String x = g.feedInputs().get(0).name();
        Graph.Builder b = g.toBuilder();
        b.addInitializer(Tensor.ofFloats("norm.mean", new long[0], new float[] {mean}));
        b.addInitializer(Tensor.ofFloats("norm.std", new long[0], new float[] {std}));
        List<org.onnxfuse.onnx.ir.Node> nodes = new ArrayList<>();
        nodes.add(org.onnxfuse.onnx.ir.Node.of("norm.sub", "Sub", List.of(x, "norm.mean"), List.of("norm.centred")));
        nodes.add(org.onnxfuse.onnx.ir.Node.of("norm.div", "Div", List.of("norm.centred", "norm.std"),
                List.of("norm.out")));
        for (org.onnxfuse.onnx.ir.Node n : g.nodes()) {
            List<String> inputs = n.inputs().stream().map(i -> i.equals(x) ? "norm.out" : i).toList();
            nodes.add(new org.onnxfuse.onnx.ir.Node(n.name(), n.opType(), n.domain(), inputs, n.outputs(),
                    n.attributes(), n.docString(), n.origin()));
        }
        return model.withGraph(b.nodes(nodes).build());
    }

    /**
     * {@code model} (a CNN whose Flatten of [N, C, H, W] feeds a Gemm with transB = 1) with a
     * Transpose to [N, H, W, C] before the Flatten, as tf2onnx exports Keras models, and the
     * Gemm's weight columns reordered to match: the same function with channels-last features.
     */
    public static Model channelsLastFlatten(Model model) {
        Graph g = model.graph();
        LevelPlan plan = LevelPlanner.plan(model);
        Level level = plan.levels().stream().filter(l -> l.opTypes().contains("Flatten")).findFirst().orElseThrow();
        org.onnxfuse.onnx.ir.Node flatten = level.opNodes().stream().filter(n -> n.opType().equals("Flatten"))
                .findFirst().orElseThrow();
        org.onnxfuse.onnx.ir.Node gemm = level.affine();
        if (!gemm.opType().equals("Gemm") || gemm.longAttribute("transB", 0) != 1) {
            throw new IllegalArgumentException("expected a Gemm with transB = 1 after the Flatten");
        }
        List<org.onnxfuse.onnx.ir.Dim> in = level.ops().get(level.ops().indexOf(level.ops().stream()
                .filter(o -> o.node() == flatten).findFirst().orElseThrow()) - 1).outputShape();
        int c = Math.toIntExact(in.get(1).value());
        int hw = Math.toIntExact(in.get(2).value() * in.get(3).value());
        Tensor w = g.initializer(gemm.inputs().get(1)).orElseThrow();
        float[] old = w.toFloats();
        int outs = Math.toIntExact(w.dims()[0]);
        float[] reordered = new float[old.length];
        for (int o = 0; o < outs; o++) {
            for (int ch = 0; ch < c; ch++) {
                for (int p = 0; p < hw; p++) {
                    reordered[o * c * hw + p * c + ch] = old[o * c * hw + ch * hw + p];
                }
            }
        }
        String transposed = flatten.inputs().get(0) + "_nhwc";
        List<org.onnxfuse.onnx.ir.Node> nodes = new ArrayList<>();
        for (org.onnxfuse.onnx.ir.Node n : g.nodes()) {
            if (n == flatten) {
                nodes.add(org.onnxfuse.onnx.ir.Node.of("nhwc", "Transpose", List.of(flatten.inputs().get(0)),
                        List.of(transposed), org.onnxfuse.onnx.ir.Attribute.ofLongs("perm", 0, 2, 3, 1)));
                nodes.add(new org.onnxfuse.onnx.ir.Node(n.name(), n.opType(), n.domain(), List.of(transposed),
                        n.outputs(), n.attributes(), n.docString(), n.origin()));
            } else {
                nodes.add(n);
            }
        }
        return model.withGraph(g.toBuilder().nodes(nodes).putInitializer(w.withFloats(w.dims(), reordered)).build());
    }
}
