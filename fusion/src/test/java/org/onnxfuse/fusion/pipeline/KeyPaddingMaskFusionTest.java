package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.plan.ConstantFolding;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.PaddedRows;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * torch's nn.MultiheadAttention with a key_padding_mask that is a model input
 * (test-models/models/mha/key_padding_mask_op17.onnx: `input` [batch, 1, 28, 28] and `mask`
 * [batch, 28] bool, True = a padded row token). torch makes it an additive -inf mask on the scores
 * of merged heads ([N * H, 1, S]); read batch first it is [N, 1, 1, S], computed from the mask input
 * alone: data the fused model computes as parent 0 does, the same in every parent whose subgraph is.
 */
class KeyPaddingMaskFusionTest {
    private static final String FILE = "mha/key_padding_mask_op17.onnx";

    @TempDir
    Path dir;

    private static Model model() {
        return ConstantFolding.fold(Fixtures.read(FILE));
    }

    /** {@link PaddedRows#boolMask}: sample i with its last (i + shift) mod 10 row tokens padded (none unless padded). */
    private Path data(String name, int first, int n, int shift, boolean padded) {
        return PaddedRows.boolMask(dir.resolve(name), "mask", first, n, shift, padded);
    }

    @Test
    void theMaskIsReadBatchFirstFromTheMaskInputAlone() {
        // the rewrite keeps the function, padding included, and the mask reaches the model
        MaskedAttentionChecks.Checked c = MaskedAttentionChecks.requireReadBatchFirst(Fixtures.read(FILE), model(),
                data("test.npz", 0, 200, 3, true), data("open.npz", 0, 200, 3, false));
        LevelPlan p = c.plan();
        assertEquals(List.of("input", "mask"), p.inputs().stream().map(in -> in.name()).toList());
        assertEquals(DataType.BOOL, p.inputs().get(1).elementType());
        assertEquals(6, p.levels().size());
        assertEquals(List.of(p.spaceOf(4).id()), p.spaceOf(2).headsShared());
        assertTrue(c.maskSignature().contains("computed from the input 'mask'") && c.maskSignature().contains("Where"),
                c.maskSignature());
        MaskedAttentionChecks.requireSegmentReadingTheMask(p, "mask");
    }

    @Test
    void aParentFusedWithItsPermutedCopyComesBackUnderTheMask() {
        MaskedAttentionChecks.requirePermutedCopyBackTrainingTheBlock(model(), 29, data("calib.npz", 200, 300, 0, true),
                data("test.npz", 0, 200, 5, true), "2, 3, 4, 5");
    }

    @Test
    void kfGradientTrainsTheAttentionBlockUnderTheMask() {
        MaskedAttentionChecks.requireTrainedUnderTheMask(model(), data("calib.npz", 200, 300, 0, true),
                data("test.npz", 0, 200, 5, true), "2, 3, 4, 5");
    }

    @Test
    void parentsThatComputeTheMaskDifferentlyAreRefusedByNode() {
        // parent 1 fills padded keys with -1e4 instead of -inf: another mask, not a parameter to average
        Model p0 = model();
        Graph g = p0.graph();
        Node where = g.nodes().stream().filter(n -> n.opType().equals("Where") && n.inputs().stream()
                .anyMatch(v -> g.initializer(v).map(t -> t.dataType() == DataType.FLOAT).orElse(false)))
                .findFirst().orElseThrow();
        String fill = where.inputs().stream().filter(v -> g.initializer(v).map(t -> t.toFloats()[0]
                == Float.NEGATIVE_INFINITY).orElse(false)).findFirst().orElseThrow();
        Tensor t = g.initializer(fill).orElseThrow();
        Model other = p0.withGraph(g.toBuilder().putInitializer(t.withFloats(t.dims(), new float[] {-1e4f})).build());
        Path calibration = data("calib.npz", 200, 100, 0, true);
        Exception e = assertThrows(RuntimeException.class,
                () -> Fixtures.fuse(List.of(p0, other), FusionMethod.KF_LINEAR, 100, calibration));
        assertTrue(e.getMessage().contains("/attn") && e.getMessage().contains("score input mask"), e.getMessage());
    }
}
