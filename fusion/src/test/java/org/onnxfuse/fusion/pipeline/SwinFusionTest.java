package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.plan.ConstantFolding;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.PerNeuronOp;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;

/**
 * A tiny untrained torchvision Swin Transformer (test-models/scripts/make_swin_models.py: 7 x 7
 * tokens padded to windows of 4 x 4, shifted windows with their mask, a relative-position bias per
 * head, patch merging, sizes computed from shapes with Mod, Range and ScatterND): planned from the
 * graph and fused.
 */
class SwinFusionTest {
    private static final Set<String> UNFOLLOWED = Set.of("Mod", "Range", "ScatterND", "Not");

    private static Model raw() {
        return Fixtures.read("swin/swin_op17.onnx");
    }

    @Test
    void shapeComputationsTheBatchDoesNotChangeBecomeConstantsAndTheFunctionStays() {
        Model raw = raw();
        assertTrue(raw.graph().nodes().stream().anyMatch(n -> UNFOLLOWED.contains(n.opType())));
        Model folded = ConstantFolding.fold(raw);
        assertTrue(folded.graph().nodes().stream().noneMatch(n -> UNFOLLOWED.contains(n.opType())),
                "left: " + folded.graph().nodes().stream().map(Node::opType).filter(UNFOLLOWED::contains).toList());
        assertTrue(!folded.graph().inputs().get(0).tensorType().shape().get(0).isFixed(), "the batch stays open");
        // the test images run in batches of another size than the evaluation's 1, 2 and 3
        float[] expected = Fixtures.logits(raw, Fixtures.data("test_x.npy"));
        float[] got = Fixtures.logits(folded, Fixtures.data("test_x.npy"));
        assertTrue(Fixtures.maxAbsDifference(expected, got) < 1e-6, "" + Fixtures.maxAbsDifference(expected, got));
    }

    @Test
    void windowsShiftsPatchMergingAndTheBiasPerHeadArePlanned() {
        LevelPlan p = LevelPlanner.plan(ConstantFolding.fold(raw()));
        assertEquals(27, p.levels().size());
        // per block q, k, v, output projection, fc1, fc2; patch merging's reduction (level 14); the head
        assertEquals(2, p.spaceOf(2).heads());
        assertEquals(List.of(2, 3), p.spaceOf(2).levels());
        assertEquals(4, p.spaceOf(15).heads());
        int stream = p.spaceOf(1).id();
        assertEquals(List.of(stream, stream, stream, stream), p.level(14).binding().spaces(),
                "patch merging stacks four slices of the stream");
        assertEquals(List.of(1, 5, 7, 11, 13), p.spaceOf(1).levels());
        assertEquals(List.of(14, 18, 20, 24, 26), p.spaceOf(14).levels());
        List<PerNeuronOp> biases = p.perNeuron().stream().filter(PerNeuronOp::perHead).toList();
        assertEquals(4, biases.size(), "one relative-position bias per attention; the shifted windows' mask is shared");
        assertEquals(List.of(p.spaceOf(2).id(), p.spaceOf(8).id(), p.spaceOf(15).id(), p.spaceOf(21).id()),
                biases.stream().map(b -> b.spaces().get(0)).toList());
    }

    @Test
    void aParentFusedWithItsPermutedCopyComesBack() {
        Model p0 = ConstantFolding.fold(raw());
        Fixtures.requirePermutedCopyBack(p0, 9, 200, FusionMethod.KF_LINEAR, FusionMethod.KF_GRADIENT,
                FusionMethod.WEIGHT_MATCH, FusionMethod.AVERAGE);
    }
}
