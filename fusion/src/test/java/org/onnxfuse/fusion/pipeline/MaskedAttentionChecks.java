package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.onnxfuse.fusion.plan.LevelOp;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.ir.Model;

/**
 * What every masked self-attention fixture (test-models/models/mha/key_padding_mask_op17.onnx,
 * int64_*_op17.onnx: 28 row tokens, 4 heads) must show after the read-time rewrite of torch's
 * merged-heads mask, the mask input's own checks left to each test.
 */
final class MaskedAttentionChecks {
    private MaskedAttentionChecks() {
    }

    /** The plan of the rewritten model and the attention's signature entry for the mask added to its scores. */
    record Checked(LevelPlan plan, String maskSignature) {
    }

    /**
     * {@code rewritten} (the fixture {@code raw} folded and rewritten) computes {@code raw}'s logits on
     * {@code padded} (to 1e-5), which differ from those on {@code open}, the same images without padding (by
     * more than 1e-2: the mask reaches the model); no Expand over the heads and no swap of batch and tokens are
     * left (the mask is [N, 1, 1, S], the batch first); its plan ties queries and keys (levels 2 and 3) in 4
     * heads and has the mask in the attention's signature.
     */
    static Checked requireReadBatchFirst(Model raw, Model rewritten, Path padded, Path open) {
        float[] expected = Fixtures.logits(raw, padded);
        assertTrue(Fixtures.maxAbsDifference(expected, Fixtures.logits(rewritten, padded)) < 1e-5,
                "the rewrite keeps it");
        assertTrue(Fixtures.maxAbsDifference(expected, Fixtures.logits(raw, open)) > 1e-2,
                "the padding changes the logits");
        assertTrue(rewritten.graph().nodes().stream().noneMatch(n -> n.opType().equals("Expand")
                        || n.opType().equals("Transpose") && Arrays.equals(n.longsAttribute("perm", null),
                        new long[] {1, 0, 2})),
                "no Expand over the heads, no swap of batch and tokens: the mask is [N, 1, 1, S], the batch first");
        LevelPlan p = LevelPlanner.plan(rewritten);
        assertEquals(List.of(2, 3), p.spaceOf(2).levels(), "queries and keys tied");
        assertEquals(4, p.spaceOf(2).heads());
        LevelOp attention = p.joins().stream().filter(op -> op.opType().equals("Attention")).findFirst()
                .orElseThrow();
        String mask = attention.signature().entrySet().stream().filter(e -> e.getKey().startsWith("score input mask"))
                .map(Map.Entry::getValue).findFirst().orElseThrow(() -> new AssertionError(attention.signature()));
        return new Checked(p, mask);
    }
    /**
     * The plan's attention block (levels 2 to 5, from the stream) reads the mask input {@code mask} besides
     * its input, and the plan says so: kf-gradient trains it as one segment, the mask fed as data.
     */
    static void requireSegmentReadingTheMask(LevelPlan p, String mask) {
        AttentionFusionTest.requireSegmentReading(p, List.of(2, 3, 4, 5), List.of(mask));
    }

    /**
     * kf-linear brings a parent fused with its permuted copy (calibrated on {@code calibration}, compared on
     * {@code test}, both .npz of the image and the mask) back to its function to 1e-4, kf-gradient to 1e-3
     * with each of {@code blocks} trained as one segment, the attention block's (ending at level 5) from an
     * exact start: its segment, fed the mask row by row, computes the parents' Add output.
     */
    static void requirePermutedCopyBackTrainingTheBlock(Model p0, long seed, Path calibration, Path test,
                                                       String... blocks) {
        Fixtures.requirePermutedCopyBack(p0, seed, 300, calibration, test, FusionMethod.KF_LINEAR);
        Fixtures.PermutedCopy gradient = Fixtures.permutedCopyFusion(p0, FusionMethod.KF_GRADIENT, seed, 300,
                calibration, test);
        assertTrue(gradient.difference() < 1e-3, "kf-gradient: " + gradient.difference());
        TrainedBlocks.require(gradient.result(), blocks);
        TrainedBlocks.requireExactStart(gradient.result(), 5);
    }

    /**
     * With parent 1 a permuted copy of {@code p0} whose key projection (level 3) is tripled, the attention block
     * trains from its linear fit under the mask ({@link TrainedBlocks#requireTrainedFromTheLinearFit}), and the
     * trained model's logits on {@code test} (padded rows: -inf or -1e4 on their keys' scores) are finite.
     */
    static void requireTrainedUnderTheMask(Model p0, Path calibration, Path test, String block) {
        Model p1 = org.onnxfuse.fusion.testing.ModelEdits.scaledWeight(
                org.onnxfuse.fusion.testing.ModelEdits.permuted(p0, 43), 3, 3f);
        FusionResult r = TrainedBlocks.requireTrainedFromTheLinearFit(List.of(p0, p1), 300, calibration, block, 5, 3);
        for (float v : Fixtures.logits(r.model(), test)) {
            assertTrue(Float.isFinite(v), "a logit of the trained model is " + v);
        }
    }
}
