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
}
