package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.onnxfuse.fusion.importance.ImportanceMethod;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.fusion.ops.ParameterFreeOps;
import org.onnxfuse.fusion.plan.ConstantFolding;
import org.onnxfuse.fusion.plan.LevelOp;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.ModelEdits;
import org.onnxfuse.fusion.testing.PaddedRows;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * A HuggingFace-style int64 {@code attention_mask} (1 = keep, 0 = pad) as a model input
 * (test-models/models/mha/int64_*_op17.onnx: `input` [batch, 1, 28, 28] and `attention_mask`
 * [batch, 28] int64) given to a batch-first nn.TransformerEncoderLayer as its key padding mask, made
 * inside the graph either torch's bool mask, {@code attention_mask == 0} (an Equal with a constant 0:
 * {@value #BOOL}), or HuggingFace's additive float mask, {@code (1 - attention_mask.float()) * -1e4}
 * (Cast, Sub, Mul: {@value #ADDITIVE}). The mask the attention reads is computed from the input, not the
 * input itself: the rewrite of torch's merged-heads mask follows it back to the [batch, 28] input, the plan
 * passes the input through (the float mask computed from it too), and fusion reads it as int64 from a
 * {@code .npz}. {@value #MASKED_MEAN} is the bool-mask encoder whose tokens are pooled with the mask before
 * the head, as HuggingFace / sentence-transformers encoders pool them, {@code (h * attention_mask[..., None])
 * .sum(1) / attention_mask.sum(1, keepdim=True).clamp(min=1e-9)}: the mask's Unsqueeze, Cast, ReduceSum and
 * Clip are data computed from the int64 input, the Mul and the Div scale every neuron of a token alike (size 1
 * on the neuron axis) and the ReduceSum sums the tokens, so the residual stream's space reaches the head.
 * {@value #MASKED_MEAN_EXPAND} pools as sentence-transformers' own mean pooling writes it, the mask expanded to
 * the hidden states' size ({@code attention_mask.unsqueeze(-1).expand(h.size()).float()}, as wide as the
 * neurons but the same along them) before the product and the count.
 */
class Int64AttentionMaskFusionTest {
    private static final String BOOL = "mha/int64_attention_mask_op17.onnx";
    private static final String ADDITIVE = "mha/int64_additive_mask_op17.onnx";
    private static final String MASKED_MEAN = "mha/int64_masked_mean_op17.onnx";
    private static final String MASKED_MEAN_EXPAND = "mha/int64_masked_mean_expand_op17.onnx";

    @TempDir
    Path dir;

    private static Model model(String file) {
        return ConstantFolding.fold(Fixtures.read(file));
    }

    /** {@link PaddedRows#int64Mask}: sample i with its last (i + shift) mod 10 row tokens 0 (all 1 unless padded). */
    private Path data(String name, int first, int n, int shift, boolean padded) {
        return PaddedRows.int64Mask(dir.resolve(name), "attention_mask", first, n, shift, padded);
    }

    private Path calibration() {
        return data("calib.npz", 200, 300, 0, true);
    }

    private Path test(int shift) {
        return data("test.npz", 0, 200, shift, true);
    }

    @ParameterizedTest
    @CsvSource({BOOL + ", Equal Where", ADDITIVE + ", Cast Sub Mul", MASKED_MEAN + ", Equal Where"})
    void theMaskComputedFromTheInt64InputIsReadBatchFirst(String file, String maskOps) {
        MaskedAttentionChecks.Checked c = MaskedAttentionChecks.requireReadBatchFirst(Fixtures.read(file),
                model(file), test(3), data("open.npz", 0, 200, 3, false));
        LevelPlan p = c.plan();
        assertEquals(List.of("input", "attention_mask"), p.inputs().stream().map(in -> in.name()).toList());
        assertEquals(DataType.INT64, p.inputs().get(1).elementType());
        assertEquals(8, p.levels().size());
        assertTrue(c.maskSignature().contains("computed from the input 'attention_mask'"), c.maskSignature());
        for (String op : maskOps.split(" ")) {
            assertTrue(c.maskSignature().contains(op), op + " not in " + c.maskSignature());
        }
        MaskedAttentionChecks.requireSegmentReadingTheMask(p, "attention_mask");
    }

    @ParameterizedTest
    @CsvSource({MASKED_MEAN + ", Unsqueeze Cast ReduceSum Clip", MASKED_MEAN_EXPAND + ", Unsqueeze Expand Cast ReduceSum Clip"})
    void theMaskedMeanHeadLevelReadsTheStreamSpace(String file, String maskOps) {
        LevelPlan p = LevelPlanner.plan(model(file));
        int stream = p.level(1).space();
        assertEquals(List.of(1, 5, 7), p.space(stream).levels(), "the embedding, attention output and MLP output");
        assertEquals(List.of("Mul", "ReduceSum", "Div"), p.level(8).ops().stream().map(LevelOp::opType).toList());
        assertEquals(List.of(stream), p.level(8).binding().spaces(), "the pooled head reads the stream's space");
        assertTrue(p.level(8).last());
        List<String> joins = p.joins().stream().map(LevelOp::opType).toList();
        assertTrue(joins.containsAll(List.of(maskOps.split(" "))), "the mask's ops: " + joins);
    }

    @ParameterizedTest
    @ValueSource(strings = {BOOL, ADDITIVE, MASKED_MEAN, MASKED_MEAN_EXPAND})
    void aParentFusedWithItsPermutedCopyComesBackUnderTheInt64Mask(String file) {
        MaskedAttentionChecks.requirePermutedCopyBackTrainingTheBlock(model(file), 31, calibration(), test(5),
                "2, 3, 4, 5", "6, 7");
    }

    @ParameterizedTest
    @ValueSource(strings = {BOOL, ADDITIVE, MASKED_MEAN, MASKED_MEAN_EXPAND})
    void kfGradientTrainsTheAttentionBlockUnderTheInt64Mask(String file) {
        MaskedAttentionChecks.requireTrainedUnderTheMask(model(file), calibration(), test(5), "2, 3, 4, 5");
    }

    @ParameterizedTest
    @ValueSource(strings = {BOOL, ADDITIVE, MASKED_MEAN, MASKED_MEAN_EXPAND})
    void theFusedModelKeepsTheInt64InputAndRunsFromItsFile(String file) {
        Model p0 = model(file);
        FusionResult r = Fixtures.fuse(List.of(p0, ModelEdits.permuted(p0, 37)), FusionMethod.KF_LINEAR, 300,
                calibration());
        Path written = dir.resolve("fused.onnx");
        OnnxWriter.write(r.model(), written);
        Model fused = OnnxReader.read(written);
        ValueInfo in = Fixtures.read(file).graph().feedInputs().get(1);
        ValueInfo out = fused.graph().feedInputs().get(1);
        assertEquals("attention_mask", out.name());
        assertEquals(in.tensorType(), out.tensorType(), "int64 [batch, 28], passed through unchanged");
        Path test = test(7);
        float[] expected = Fixtures.logits(Fixtures.read(file), test);
        float[] got = Fixtures.logits(fused, test);
        double scale = Math.max(1, Fixtures.maxAbsDifference(expected, new float[expected.length]));
        double diff = Fixtures.maxAbsDifference(expected, got) / scale;
        System.out.println(file + ", kf-linear, written and read back: max abs logit difference " + diff);
        assertTrue(diff < 1e-4, "the fused model, read from its file, computes the parent under the mask: " + diff);
        double padding = Fixtures.maxAbsDifference(got, Fixtures.logits(fused, data("open.npz", 0, 200, 7, false)));
        System.out.println(file + ", fused: the padding changes the logits by up to " + padding);
        assertTrue(padding > 1e-2, "the fused model reads the mask: " + padding);
    }

    /**
     * {@value #MASKED_MEAN_EXPAND}'s mask is expanded to the size of the hidden states, read from them by Shape in
     * the fused model too ({@link ParameterFreeOps#sizeOf} holds there: a fused width would follow); its stream
     * feeds attention heads, so a fused width other than the parents' is refused before any work, naming why.
     */
    @Test
    void theExpandedMaskReadsTheFusedSizeAndOtherWidthsAreRefusedClearly() {
        Model p0 = model(MASKED_MEAN_EXPAND);
        Model fused = Fixtures.fuse(List.of(p0, ModelEdits.permuted(p0, 37)), FusionMethod.KF_LINEAR, 300,
                calibration()).model();
        Node expand = fused.graph().nodes().stream().filter(n -> n.opType().equals("Expand")).findFirst().orElseThrow();
        GraphView view = new GraphView(fused.graph());
        String h = ParameterFreeOps.sizeOf(expand.inputs().get(1), view).orElseThrow();
        assertTrue(fused.graph().consumers(h).stream().anyMatch(n -> n.opType().equals("Mul")),
                "the size of the hidden states the mask multiplies: " + h);
        Fusion.Builder wider = Fusion.builder().parentModels(List.of(p0, ModelEdits.permuted(p0, 37)))
                .calibration(calibration()).samples(300).method(FusionMethod.KF_LINEAR)
                .importance(ImportanceMethod.UNIFORM).widths(FusionConfig.Widths.parse("1.5")).device("cpu")
                .threads(2).seed(1).restarts(2).log(s -> { });
        String message = assertThrows(InvalidSettingException.class, () -> wider.build().fuse()).getMessage();
        assertTrue(message.contains("expected its parents' width 16"), message);
    }

    /**
     * The expand form with the mask expanded to a constant size ([1, 28, 16]) instead of the hidden states'
     * own size is refused naming the Expand: a constant width cannot follow a fused width.
     */
    @Test
    void anExpandToAConstantWidthIsRefusedNamingTheNode() {
        Model m = model(MASKED_MEAN_EXPAND);
        Graph g = m.graph();
        Node expand = g.nodes().stream().filter(n -> n.opType().equals("Expand")).findFirst().orElseThrow();
        List<Node> nodes = g.nodes().stream().map(n -> n == expand
                ? n.withInputs(List.of(n.inputs().get(0), "constant_size")) : n).toList();
        Model constant = m.withGraph(g.toBuilder().addInitializer(Tensor.ofLongs("constant_size", new long[] {3},
                new long[] {1, 28, 16})).nodes(nodes).build());
        String message = assertThrows(UnsupportedOpException.class, () -> LevelPlanner.plan(ConstantFolding.fold(
                constant))).getMessage();
        assertTrue(message.contains("'" + expand.name() + "' (Expand)"), message);
        assertTrue(message.contains("Expand to an activation's own size (h.size(), not a constant)"), message);
    }

    /**
     * The masked mean's Mul given the mask times a constant of 16 values ([batch, 28, 1] x [16]: data computed
     * from the int64 input that varies along the neurons) is refused, naming the node and the reason: such data
     * cannot follow the fused neurons. In {@value #MASKED_MEAN_EXPAND} the mask is already [batch, 28, 16], the
     * same along the neurons, until the constant makes it vary.
     */
    @ParameterizedTest
    @ValueSource(strings = {MASKED_MEAN, MASKED_MEAN_EXPAND})
    void aMulByDataThatVariesAlongTheNeuronsIsRefusedNamingTheNode(String file) {
        Model m = model(file);
        Graph g = m.graph();
        Node mul = g.nodes().stream().filter(n -> n.opType().equals("Mul") && g.consumers(n.outputs().get(0)).stream()
                .anyMatch(c -> c.opType().equals("ReduceSum"))).findFirst().orElseThrow();
        float[] perNeuron = new float[16];
        for (int i = 0; i < perNeuron.length; i++) {
            perNeuron[i] = 1 + i / 16f;
        }
        List<Node> nodes = new ArrayList<>();
        for (Node n : g.nodes()) {
            if (n == mul) {
                nodes.add(Node.of("mask_per_neuron", "Mul", List.of(n.inputs().get(1), "per_neuron"),
                        List.of("mask_per_neuron")));
                nodes.add(n.withInputs(List.of(n.inputs().get(0), "mask_per_neuron")));
            } else {
                nodes.add(n);
            }
        }
        Model varying = m.withGraph(g.toBuilder().addInitializer(Tensor.ofFloats("per_neuron", new long[] {16},
                perNeuron)).nodes(nodes).build());
        String message = assertThrows(UnsupportedOpException.class, () -> LevelPlanner.plan(varying)).getMessage();
        assertTrue(message.contains("node '" + mul.name() + "' (Mul) multiplies the activations [batch, 28, 16] by"
                + " 'mask_per_neuron' (computed from the INT64 input 'attention_mask')"), message);
        assertTrue(message.contains("16 values along axis 2, the neuron axis"), message);
    }
}
