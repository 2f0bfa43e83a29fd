package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.onnxfuse.fusion.plan.ConstantFolding;
import org.onnxfuse.fusion.plan.LevelOp;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.NeuronSpace;
import org.onnxfuse.fusion.plan.PerNeuronOp;
import org.onnxfuse.fusion.plan.PlanFormatter;
import org.onnxfuse.fusion.plan.ResidualBlock;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.ModelEdits;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * torch exports of a tiny ViT (test-models/scripts/make_vit_models.py: 7x7 patches, a class token,
 * a position embedding, two pre-LayerNorm blocks of 4-head self-attention with separate q, k, v
 * projections and a GELU MLP): attention's spaces are split into heads and grouped whole.
 */
class AttentionFusionTest {
    private static Model model(int opset) {
        return model("vit/vit_op" + opset + ".onnx");
    }

    private static Model model(String file) {
        return ConstantFolding.fold(Fixtures.read(file));
    }

    @ParameterizedTest
    @ValueSource(ints = {13, 17})
    void queriesAndKeysShareHeadedSpacesAndValuesCarryOnToTheOutputProjection(int opset) {
        LevelPlan p = LevelPlanner.plan(model(opset));
        assertEquals(14, p.levels().size());
        // per block: q, k, v, out projection, fc1, fc2
        NeuronSpace qk = p.spaceOf(2);
        assertEquals(List.of(2, 3), qk.levels());
        assertEquals(4, qk.heads());
        NeuronSpace v = p.spaceOf(4);
        assertEquals(List.of(4), v.levels());
        assertEquals(4, v.heads());
        assertEquals(List.of(v.id()), p.level(5).binding().spaces(), "the output projection reads the value heads");
        NeuronSpace stream = p.spaceOf(1);
        assertEquals(List.of(1, 5, 7, 11, 13), stream.levels());
        assertEquals(1, stream.heads());
        assertEquals(1, p.spaceOf(6).heads(), "the MLP's hidden units are a space of their own");
        assertEquals(2, p.joins().stream().filter(op -> op.opType().equals("Attention")).count());
        assertEquals(4, p.blocks().size());
        assertEquals(List.of(2, 3, 4, 5), p.blocks().get(0).levels());
        String text = PlanFormatter.table("vit", p, false);
        assertTrue(text.contains("(4 attention heads of 8, grouped whole, in the head order of space " + v.id() + ")"),
                text);
        assertTrue(text.contains("levels 2, 3, 4, 5 (attention)") && text.contains("levels 6, 7\n"), text);
    }

    @ParameterizedTest
    @ValueSource(ints = {13, 17})
    void aParentFusedWithItsCopyPermutedByWholeHeadsComesBack(int opset) {
        // stream, whole heads (one order for queries/keys and values), dims within heads, MLP units
        Model p0 = model(opset);
        double diff = Fixtures.permutedCopyDifference(p0, FusionMethod.KF_LINEAR, 3, 200);
        assertTrue(diff < 1e-4, "opset " + opset + ": " + diff);
    }

    @Test
    void theGradientVariantAndTheMatchingBaselinesBringThePermutedCopyBackAndAveragingDoesNot() {
        Model p0 = model(17);
        Fixtures.requirePermutedCopyBack(p0, 7, 200, FusionMethod.KF_GRADIENT, FusionMethod.KF_AUTO,
                FusionMethod.HF_LINEAR, FusionMethod.WEIGHT_MATCH, FusionMethod.ACT_MATCH, FusionMethod.AVERAGE);
    }

    @ParameterizedTest
    @ValueSource(strings = {"vit_packed_op17.onnx", "vit_timm_op17.onnx"})
    void aPackedQueryKeyValueProjectionIsSplitIntoThreeLevels(String file) {
        // one MatMul + Add for q, k and v: cut by three Slices (qkv(x).chunk(3, -1), bounds computed from the shape),
        // or reshaped to [N, T, 3, H, d], transposed parts first and unbound (timm: Split and Squeezes)
        Model raw = Fixtures.read("vit/" + file);
        java.util.function.Predicate<Node> taking = n -> n.name().contains("/attn/") && (n.opType().equals("Slice")
                || n.opType().equals("Split") || n.opType().equals("Squeeze"));
        assertTrue(raw.graph().nodes().stream().anyMatch(taking));
        Model p0 = model("vit/" + file);
        assertTrue(p0.graph().nodes().stream().noneMatch(taking), "the parts are projections of their own");
        assertTrue(Fixtures.maxAbsDifference(Fixtures.logits(raw, Fixtures.data("test_x.npy")),
                Fixtures.logits(p0, Fixtures.data("test_x.npy"))) < 1e-5, "splitting keeps the function");
        LevelPlan p = LevelPlanner.plan(p0);
        assertEquals(14, p.levels().size());
        assertEquals(List.of(2, 3), p.spaceOf(2).levels());
        assertEquals(4, p.spaceOf(4).heads());
        double diff = Fixtures.permutedCopyDifference(p0, FusionMethod.KF_LINEAR, 11, 200);
        assertTrue(diff < 1e-4, file + ": " + diff);
    }

    @ParameterizedTest
    @ValueSource(strings = {"vit/encoder_op17.onnx", "mha/encoder_tokens_first_op17.onnx"})
    void torchsTransformerEncoderIsRewrittenBatchFirstAndFused(String file) {
        // nn.TransformerEncoder (norm_first). batch_first: its nn.MultiheadAttention moves [N, T, D] -> [T, N, D],
        // packed projection, heads merged with the batch ([T, N * H, d]), a Gemm on [T * N, D], reshaped and
        // transposed back. batch_first=False on row tokens the model moves tokens first itself: the model's own
        // Transpose [1, 0, 2] and the layers run batch first after the rewrite, the mean over axis 0 over axis 1
        Model p0 = rewrittenBatchFirst(file);
        LevelPlan p = LevelPlanner.plan(p0);
        assertEquals(14, p.levels().size());
        assertEquals(List.of(2, 3), p.spaceOf(2).levels());
        assertEquals(List.of(8, 9), p.spaceOf(8).levels());
        assertEquals(4, p.spaceOf(2).heads());
        assertEquals(List.of(p.spaceOf(4).id()), p.spaceOf(2).headsShared());
        assertEquals(List.of(1, 5, 7, 11, 13), p.spaceOf(1).levels(), "one residual stream");
        for (FusionMethod method : List.of(FusionMethod.KF_LINEAR, FusionMethod.KF_GRADIENT)) {
            double diff = Fixtures.permutedCopyDifference(p0, method, 13, 200);
            assertTrue(diff < (method.trains() ? 1e-3 : 1e-4), file + " " + method + ": " + diff);
        }
    }

    @Test
    void aCausalMaskOnTorchsMultiheadAttentionIsKeptAndTheBlockFused() {
        // nn.TransformerEncoder(mask=causal): torch adds the float -inf mask to the scores of the merged heads;
        // rewritten batch first, the mask stays a constant the same in every head, part of the attention
        Model p0 = rewrittenBatchFirst("mha/encoder_causal_op17.onnx");
        LevelPlan p = LevelPlanner.plan(p0);
        assertEquals(8, p.levels().size());
        assertEquals(4, p.spaceOf(2).heads());
        LevelOp attention = p.joins().stream().filter(op -> op.opType().equals("Attention")).findFirst().orElseThrow();
        assertTrue(attention.signature().keySet().stream().anyMatch(k -> k.startsWith("score constant"))
                && attention.signature().values().stream().anyMatch(v -> v.contains("the same in every head")),
                attention.signature().toString());
        for (FusionMethod method : List.of(FusionMethod.KF_LINEAR, FusionMethod.KF_GRADIENT)) {
            double diff = Fixtures.permutedCopyDifference(p0, method, 17, 200);
            assertTrue(diff < (method.trains() ? 1e-3 : 1e-4), method + ": " + diff);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cross_op17.onnx", "cross_tokens_first_op17.onnx"})
    void crossAttentionOfTwoTokenStreamsIsRewrittenBatchFirstAndFused(String file) {
        // nn.MultiheadAttention(q, kv, kv): queries from 28 row tokens, keys = values from 14 tokens of two rows;
        // torch slices in_proj_weight into the query's part and the key/value part (bounds from the query's shape)
        // and cuts the key/value product in two; batch first and tokens first. The attention block reads two spaces:
        // it is a segment from the query stream that also reads the input of the key and value projections, and
        // kf-gradient trains it as one
        Model p0 = rewrittenBatchFirst("mha/" + file);
        assertTrue(p0.graph().nodes().stream().noneMatch(n -> n.opType().equals("Slice")), "weights folded, kv split");
        LevelPlan p = LevelPlanner.plan(p0);
        assertEquals(9, p.levels().size());
        NeuronSpace queries = p.spaceOf(3);
        assertEquals(List.of(3, 4), queries.levels(), "queries and keys tied");
        assertEquals(4, queries.heads());
        assertEquals(List.of(p.spaceOf(5).id()), queries.headsShared());
        assertEquals(List.of(p.spaceOf(1).id()), p.level(3).binding().spaces(), "queries read the query stream");
        for (int level : List.of(4, 5)) {
            assertEquals(List.of(p.spaceOf(2).id()), p.level(level).binding().spaces(), "keys, values: the other");
        }
        assertEquals(List.of(1, 6, 8), p.spaceOf(1).levels());
        String memory = p.level(4).input();
        assertEquals(memory, p.level(5).input(), "keys and values project one value (LN of the other stream)");
        requireSegmentReading(p, List.of(3, 4, 5, 6), List.of(memory));
        assertEquals(List.of(7, 8), p.blocks().get(1).levels(), "the MLP block");
        double linear = Fixtures.permutedCopyDifference(p0, FusionMethod.KF_LINEAR, 19, 200);
        assertTrue(linear < 1e-4, file + " kf-linear: " + linear);
        // kf-auto trains residual blocks as kf-gradient does
        for (FusionMethod method : List.of(FusionMethod.KF_GRADIENT, FusionMethod.KF_AUTO)) {
            Fixtures.PermutedCopy trained = Fixtures.permutedCopyFusion(p0, method, 19, 200,
                    Fixtures.data("calib400_x.npy"), Fixtures.data("test_x.npy"));
            assertTrue(trained.difference() < 1e-3, file + " " + method + ": " + trained.difference());
            TrainedBlocks.require(trained.result(), "3, 4, 5, 6", "7, 8");
            TrainedBlocks.requireExactStart(trained.result(), 6);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"cross_op17.onnx", "cross_separate_kv_op17.onnx"})
    void kfGradientTrainsTheCrossAttentionBlockThroughTheOtherStream(String file) {
        // parent 1: parent 0 permuted, with its key projection's weight doubled (sharper attention), so that the
        // block's linear fits are no exact fit of the mean Add output: the block trains epochs, and the key
        // projection, which reads the other stream (the segment's second input), moves from its linear fit: the
        // gradient reaches it through that input's branch
        Model p0 = model("mha/" + file);
        boolean separate = file.contains("separate");
        int keys = separate ? 6 : 4;
        Model p1 = ModelEdits.scaledWeight(ModelEdits.permuted(p0, 41), keys, 2f);
        TrainedBlocks.requireTrainedFromTheLinearFit(List.of(p0, p1), 200, Fixtures.data("calib400_x.npy"),
                separate ? "4, 5, 6, 7" : "3, 4, 5, 6", separate ? 7 : 6, keys);
    }

    @Test
    void aScaleOnTheKeysBeforeTheirHeadsStillLeavesTheCrossAttentionBlockOneSegment() {
        // cross_op17 with the keys multiplied by a constant between their projection and the split into heads:
        // the block's read is still the input of the projection the keys come from
        Model p0 = model("mha/cross_op17.onnx");
        LevelPlan before = LevelPlanner.plan(p0);
        String keys = before.level(4).cut();
        Graph g = p0.graph();
        Graph.Builder b = g.toBuilder();
        for (Node n : g.nodes()) {
            if (n.inputs().contains(keys)) {
                b.replaceNode(n, n.withInputs(n.inputs().stream().map(v -> v.equals(keys) ? "keys_scaled" : v)
                        .toList()));
            }
        }
        b.addInitializer(Tensor.ofFloats("keys_scale", new long[0], new float[] {0.5f}));
        b.addNode(Node.of("/keys_scale", "Mul", List.of(keys, "keys_scale"), List.of("keys_scaled")));
        Model scaled = p0.withGraph(b.build());
        assertTrue(Fixtures.maxAbsDifference(Fixtures.logits(p0, Fixtures.data("test_x.npy")),
                Fixtures.logits(scaled, Fixtures.data("test_x.npy"))) > 1e-3, "the scale changes the function");
        LevelPlan p = LevelPlanner.plan(scaled);
        requireSegmentReading(p, List.of(3, 4, 5, 6), List.of(p.level(4).input()));
        Fixtures.PermutedCopy gradient = Fixtures.permutedCopyFusion(scaled, FusionMethod.KF_GRADIENT, 19, 200,
                Fixtures.data("calib400_x.npy"), Fixtures.data("test_x.npy"));
        assertTrue(gradient.difference() < 1e-3, "kf-gradient: " + gradient.difference());
        TrainedBlocks.require(gradient.result(), "3, 4, 5, 6", "7, 8");
    }

    @ParameterizedTest
    @ValueSource(strings = {"cross_separate_kv_op17.onnx", "cross_separate_kv_tokens_first_op17.onnx"})
    void keysAndValuesFromDifferentInputsAreRewrittenBatchFirstAndFused(String file) {
        // nn.MultiheadAttention(q, k, v) with key not value: queries from 28 row tokens, keys from LN(Linear) of 14
        // tokens of two rows, values from another Linear of those tokens; torch projects each with a third of
        // in_proj_weight and reads the keys' and the values' token counts each from its own projection. The
        // attention block's segment reads the keys' and the values' inputs besides the query stream
        Model p0 = rewrittenBatchFirst("mha/" + file);
        LevelPlan p = LevelPlanner.plan(p0);
        assertEquals(10, p.levels().size());
        // levels: 1 query stream, 2 key stream, 3 value stream, 4 v, 5 q, 6 k, 7 out projection, 8-9 MLP, 10 head
        NeuronSpace queries = p.spaceOf(5);
        assertEquals(List.of(5, 6), queries.levels(), "queries and keys tied");
        assertEquals(4, queries.heads());
        NeuronSpace values = p.spaceOf(4);
        assertEquals(List.of(4), values.levels());
        assertEquals(4, values.heads());
        assertEquals(List.of(values.id()), queries.headsShared());
        assertEquals(List.of(p.spaceOf(1).id()), p.level(5).binding().spaces(), "queries read the query stream");
        assertEquals(List.of(p.spaceOf(2).id()), p.level(6).binding().spaces(), "keys read the key stream");
        assertEquals(List.of(p.spaceOf(3).id()), p.level(4).binding().spaces(), "values read the value stream");
        assertEquals(3, java.util.stream.Stream.of(1, 2, 3).map(l -> p.spaceOf(l).id()).distinct().count());
        assertEquals(List.of(values.id()), p.level(7).binding().spaces(), "the output projection reads the values");
        assertEquals(List.of(1, 7, 9), p.spaceOf(1).levels());
        // the values' input (level 3's cut) comes before the keys' (the LayerNorm after level 2)
        requireSegmentReading(p, List.of(4, 5, 6, 7), List.of(p.level(4).input(), p.level(6).input()));
        Fixtures.requirePermutedCopyBack(p0, 23, 200, FusionMethod.KF_LINEAR);
        Fixtures.PermutedCopy gradient = Fixtures.permutedCopyFusion(p0, FusionMethod.KF_GRADIENT, 23, 200,
                Fixtures.data("calib400_x.npy"), Fixtures.data("test_x.npy"));
        assertTrue(gradient.difference() < 1e-3, file + " kf-gradient: " + gradient.difference());
        TrainedBlocks.require(gradient.result(), "4, 5, 6, 7", "8, 9");
        TrainedBlocks.requireExactStart(gradient.result(), 7);
    }

    /**
     * The plan's first block is the attention block of {@code levels}, reading {@code reads} besides its
     * input, and {@code plan} and its JSON say so; no attention block is left out of the segments.
     */
    static void requireSegmentReading(LevelPlan p, List<Integer> levels, List<String> reads) {
        ResidualBlock block = p.blocks().get(0);
        assertEquals(levels, block.levels());
        assertEquals(reads, block.reads());
        assertEquals(List.of(), p.unsegmented());
        String text = PlanFormatter.table("model", p, false);
        String listed = levels.stream().map(String::valueOf).collect(java.util.stream.Collectors.joining(", "));
        String quoted = reads.stream().map(r -> "'" + r + "'").collect(java.util.stream.Collectors.joining(", "));
        assertTrue(text.contains("kf-gradient and kf-auto train each as one segment")
                && text.contains("levels " + listed + " (attention; also reads " + quoted + ")"), text);
        com.fasterxml.jackson.databind.JsonNode json = PlanFormatter.json("model", p).get("blocks").get(0);
        List<String> jsonReads = new java.util.ArrayList<>();
        json.get("reads").forEach(r -> jsonReads.add(r.asText()));
        assertEquals(reads, jsonReads);
        assertTrue(json.get("attention").asBoolean());
    }

    /** {@code file} as read: no Transpose moves the batch off axis 0, and the function is the export's. */
    private static Model rewrittenBatchFirst(String file) {
        Model p0 = model(file);
        assertTrue(p0.graph().nodes().stream().noneMatch(n -> n.opType().equals("Transpose")
                && java.util.Arrays.equals(n.longsAttribute("perm", null), new long[] {1, 0, 2})), "batch stays first");
        assertTrue(Fixtures.maxAbsDifference(Fixtures.logits(Fixtures.read(file), Fixtures.data("test_x.npy")),
                Fixtures.logits(p0, Fixtures.data("test_x.npy"))) < 1e-5, "the rewrite keeps the function");
        return p0;
    }

    @Test
    void theGradientVariantTrainsEveryAttentionBlockOfATrainedPair() {
        // the non-IID pair: both attention blocks and both MLP blocks are trained as segments, none falls back
        List<Model> parents = List.of(model("vit/vitk2_p0.onnx"), model("vit/vitk2_p1.onnx"));
        TrainedBlocks.require(Fixtures.fuse(parents, FusionMethod.KF_GRADIENT, 200), "2, 3, 4, 5", "6, 7",
                "8, 9, 10, 11", "12, 13");
    }

    @Test
    void aBiasPerHeadOnTheScoresMovesWithItsHeadAndAMaskStays() {
        // vit_bias_op17: scores + a relative-position bias per head (a folded Gather of a table) + a local -inf mask
        Model p0 = model("vit/vit_bias_op17.onnx");
        LevelPlan p = LevelPlanner.plan(p0);
        List<PerNeuronOp> biases = p.perNeuron().stream().filter(PerNeuronOp::perHead).toList();
        assertEquals(2, biases.size(), "one bias per attention; the mask is the same in every head");
        for (PerNeuronOp bias : biases) {
            assertEquals(8, bias.neuronsPerValue(), "each value covers the 8 dims of one head");
            assertEquals(1, bias.neuronAxis(), "the heads' axis of [batch, heads, queries, keys]");
        }
        assertEquals(List.of(p.spaceOf(2).id(), p.spaceOf(8).id()), biases.stream().map(b -> b.spaces().get(0)).toList());
        Fixtures.requirePermutedCopyBack(p0, 5, 200, FusionMethod.KF_LINEAR, FusionMethod.KF_GRADIENT,
                FusionMethod.WEIGHT_MATCH, FusionMethod.ACT_MATCH, FusionMethod.AVERAGE);
    }

    @Test
    void theFirstBlockAfterTheClassTokenTrainsAsOneSegment() {
        // vit_bias_op17: the first block's input (after the class token's Concat) has [batch, ?, 32] upstream, the
        // attention output [batch, 17, 32] (fixed by the bias constant); the segment is fed rows of [17, 32], so its
        // residual Add adds equal shapes and every block trains
        Model p0 = model("vit/vit_bias_op17.onnx");
        TrainedBlocks.require(Fixtures.fuse(List.of(p0, ModelEdits.permuted(p0, 5)), FusionMethod.KF_GRADIENT, 200),
                "2, 3, 4, 5", "6, 7", "8, 9, 10, 11", "12, 13");
    }

    @Test
    void theGradientVariantTrainsTheBiasPerHeadWithItsAttention() {
        // parent 1: parent 0 with block 1's bias per head negated, so the mean bias is no exact fit
        Model p0 = model("vit/vit_bias_op17.onnx");
        String bias = scoreConstant(p0, "/blocks/blocks.1/attn/Add");
        Tensor t = p0.graph().initializer(bias).orElseThrow();
        float[] negated = t.toFloats();
        for (int i = 0; i < negated.length; i++) {
            negated[i] = -negated[i];
        }
        Model p1 = p0.withGraph(p0.graph().toBuilder().putInitializer(t.withFloats(t.dims(), negated)).build());
        float[] linear = fusedScoreConstant(Fixtures.fuse(List.of(p0, p1), FusionMethod.KF_LINEAR, 200).model());
        FusionResult gradient = Fixtures.fuse(List.of(p0, p1), FusionMethod.KF_GRADIENT, 200);
        assertTrue(gradient.levels().stream().map(LevelReport::method).toList().toString()
                .contains("block of levels 8, 9, 10, 11 trained"));
        float[] trained = fusedScoreConstant(gradient.model());
        assertEquals(linear.length, trained.length);
        assertTrue(Fixtures.maxAbsDifference(linear, trained) > 1e-4,
                "kf-gradient left the bias at its linear value: " + Fixtures.maxAbsDifference(linear, trained));
    }

    private static String scoreConstant(Model m, String node) {
        Graph g = m.graph();
        Node add = g.nodes().stream().filter(n -> n.name().equals(node)).findFirst().orElseThrow();
        return add.inputs().stream().filter(v -> g.initializer(v).isPresent()).findFirst().orElseThrow();
    }

    private static float[] fusedScoreConstant(Model fused) {
        return fused.graph().initializer(scoreConstant(fused, "/blocks/blocks.1/attn/Add")).orElseThrow().toFloats();
    }

    @Test
    void parentsWhoseScoreMasksDifferAreRefusedByNode() {
        Model p0 = model("vit/vit_bias_op17.onnx");
        Graph g = p0.graph();
        Node maskAdd = g.nodes().stream().filter(n -> n.name().equals("/blocks/blocks.0/attn/Add_1")).findFirst()
                .orElseThrow();
        String mask = maskAdd.inputs().stream().filter(v -> g.initializer(v).isPresent()).findFirst().orElseThrow();
        Tensor t = g.initializer(mask).orElseThrow();
        float[] values = t.toFloats();
        values[values.length - 1] = Float.NEGATIVE_INFINITY; // the class token's query no longer sees the last patch
        Model other = p0.withGraph(g.toBuilder().putInitializer(t.withFloats(t.dims(), values)).build());
        Exception e = assertThrows(RuntimeException.class,
                () -> Fixtures.fuse(List.of(p0, other), FusionMethod.KF_LINEAR, 50));
        assertTrue(e.getMessage().contains("/blocks/blocks.0/attn") && e.getMessage().contains("score constant 2"),
                e.getMessage());
    }

    @Test
    void threeParentsPermutedDifferentlyComeBackToOne() {
        // K > 2: every parent's heads are aligned to the centroids, not only to parent 0
        Model p0 = model(17);
        List<Model> parents = List.of(p0, ModelEdits.permuted(p0, 21), ModelEdits.permuted(p0, 22));
        FusionResult result = Fixtures.fuse(parents, FusionMethod.KF_LINEAR, 200);
        float[] expected = Fixtures.logits(p0, Fixtures.data("test_x.npy"));
        float[] fused = Fixtures.logits(result.model(), Fixtures.data("test_x.npy"));
        double scale = Math.max(1, Fixtures.maxAbsDifference(expected, new float[expected.length]));
        assertTrue(Fixtures.maxAbsDifference(expected, fused) / scale < 1e-4,
                "" + Fixtures.maxAbsDifference(expected, fused) / scale);
    }

    @Test
    void identicalParentsReturnTheParent() {
        Model p0 = model(13);
        FusionResult result = Fixtures.fuse(List.of(p0, p0), FusionMethod.KF_LINEAR, 200);
        float[] expected = Fixtures.logits(p0, Fixtures.data("test_x.npy"));
        float[] fused = Fixtures.logits(result.model(), Fixtures.data("test_x.npy"));
        assertTrue(Fixtures.maxAbsDifference(expected, fused) < 1e-5);
    }

    @Test
    void attentionTheWalkCannotFollowIsRefusedByNode() {
        Model p0 = model(17);
        // softmax over the queries instead of the keys
        UnsupportedOpException axis = assertThrows(UnsupportedOpException.class, () -> LevelPlanner.plan(
                edited(p0, "/blocks/blocks.0/attn/Softmax", n -> n.withAttribute(Attribute.ofLong("axis", 2)))));
        assertTrue(axis.getMessage().contains("'/blocks/blocks.0/attn/Softmax'")
                && axis.getMessage().contains("normalises axis 2"), axis.getMessage());
        // heads merged back in the wrong order: [batch, heads, tokens, dims] reshaped straight to [batch, tokens, D]
        UnsupportedOpException merge = assertThrows(UnsupportedOpException.class, () -> LevelPlanner.plan(
                edited(p0, "/blocks/blocks.1/attn/Transpose_3", n -> n.withAttribute(Attribute.ofLongs("perm", 0, 1, 2,
                        3)))));
        assertTrue(merge.getMessage().contains("'/blocks/blocks.1/attn/Reshape_3'")
                && merge.getMessage().contains("merges axes"), merge.getMessage());
    }

    private static Model edited(Model model, String node, java.util.function.UnaryOperator<Node> edit) {
        Graph g = model.graph();
        List<Node> nodes = g.nodes().stream().map(n -> n.name().equals(node) ? edit.apply(n) : n).toList();
        assertTrue(g.nodes().stream().anyMatch(n -> n.name().equals(node)), "no node " + node);
        return model.withGraph(g.toBuilder().nodes(nodes).build());
    }
}
