package org.onnxfuse.fusion.baseline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.data.FloatBatch;
import org.onnxfuse.fusion.pipeline.Fusion;
import org.onnxfuse.fusion.pipeline.FusionMethod;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.ModelEdits;
import org.onnxfuse.onnx.errors.IncompatibleModelsException;
import org.onnxfuse.onnx.ir.Model;

/**
 * The baselines on networks that are not one chain ({@link DagNets}: residual Adds, a Concat, a
 * BatchNormalization on stacked spaces, a depthwise Conv, a gate), checked through ONNX Runtime.
 */
class DagBaselinesTest {
    private static Model net(String name) {
        return switch (name) {
            case "residual" -> DagNets.residualMlp(8, 6);
            case "conv" -> DagNets.convDag();
            default -> throw new IllegalArgumentException(name);
        };
    }

    private static double diff(Model a, Model b) {
        FloatBatch batch = DagNets.data(a, 32, 11);
        return Fixtures.maxAbsDifference(DagNets.logits(a, batch), DagNets.logits(b, batch));
    }

    private static Model actMatch(Model... parents) {
        return ActivationMatching.fuse(List.of(parents), DagNets.calibration(parents[0], 64, 5), 16, 1);
    }

    @ParameterizedTest
    @ValueSource(strings = {"residual", "conv"})
    void theNetsAreNotChains(String name) {
        LevelPlan plan = LevelPlanner.plan(net(name));
        assertFalse(plan.sequential(), name);
        assertTrue(plan.spaces().stream().anyMatch(s -> s.shared()), name);
    }

    @ParameterizedTest
    @ValueSource(strings = {"residual", "conv"})
    void averagingIdenticalParentsReturnsTheParent(String name) {
        Model p = net(name);
        Model fused = VanillaAverage.fuse(List.of(p, p, p));
        assertTrue(diff(p, fused) < 1e-5, name + ": max abs logit diff " + diff(p, fused));
        assertEquals(VanillaAverage.NAME, fused.metadata().get(Parents.METHOD_KEY));
    }

    @ParameterizedTest
    @ValueSource(strings = {"residual", "conv"})
    void weightMatchRecoversASpacePermutedCopy(String name) {
        Model p = net(name);
        Model q = ModelEdits.permuted(p, 1);
        Model r = ModelEdits.permuted(p, 2);
        assertTrue(diff(p, q) < 1e-5, name + ": the permuted copy computes the same function");
        assertTrue(diff(VanillaAverage.fuse(List.of(p, q)), p) > 1e-2, name + ": unaligned averaging does not"
                + " recover it");
        double d = diff(WeightMatching.fuse(List.of(p, q, r)), p);
        assertTrue(d < 1e-4, name + ": max abs logit diff " + d);
    }

    @ParameterizedTest
    @ValueSource(strings = {"residual", "conv"})
    void actMatchRecoversASpacePermutedCopy(String name) {
        Model p = net(name);
        double d = diff(actMatch(p, ModelEdits.permuted(p, 3)), p);
        assertTrue(d < 1e-4, name + ": max abs logit diff " + d);
    }

    /** Aligning a parent or a space-permuted copy of it comes to the same fused model. */
    @ParameterizedTest
    @ValueSource(strings = {"residual", "conv"})
    void actMatchDoesNotDependOnTheOtherParentsOrder(String name) {
        Model p0 = net(name);
        Model p1 = DagNets.perturbed(p0, 8, 0.5);
        Model fused = actMatch(p0, p1);
        assertTrue(diff(fused, p1) > 1e-2 && diff(fused, p0) > 1e-2, name + ": the parents differ");
        double d = diff(fused, actMatch(p0, ModelEdits.permuted(p1, 9)));
        assertTrue(d < 1e-4, name + ": max abs logit diff " + d);
    }

    /** The library entry point takes DAG parents for every baseline. */
    @ParameterizedTest
    @ValueSource(strings = {"average", "weight-match", "act-match"})
    void fusionRunsTheBaselinesOnADag(String method) {
        Model p = net("conv");
        FusionMethod m = FusionMethod.fromName(method);
        FloatBatch data = DagNets.data(p, 64, 5);
        Model fused = Fusion.builder().parents(p, m == FusionMethod.AVERAGE ? p : ModelEdits.permuted(p, 6)).method(m)
                .calibration(data.values(), data.shape()).batchSize(16).threads(1).log(s -> { }).build().fuse()
                .model();
        assertTrue(diff(p, fused) < 1e-4, method + ": max abs logit diff " + diff(p, fused));
    }

    /** The per-neuron BatchNormalization stays a node of its own, written in its affine form. */
    @Test
    void perNeuronNormIsAveragedInPlace() {
        Model p = net("conv");
        Model fused = VanillaAverage.fuse(List.of(p, ModelEdits.permuted(p, 4)));
        assertEquals(1, fused.graph().nodes().stream().filter(n -> n.opType().equals("BatchNormalization")).count());
        assertEquals(LevelPlanner.plan(p).perNeuron().size(), LevelPlanner.plan(fused).perNeuron().size());
    }

    @Test
    void actMatchFusesAResidualNetOfOtherWidthsByOptimalTransport() {
        Model p0 = DagNets.residualMlp(8, 6);
        Model p1 = DagNets.residualMlp(6, 4);
        Model fused = actMatch(p0, p1);
        LevelPlan plan = LevelPlanner.plan(fused);
        assertEquals(LevelPlanner.plan(p0).widths(), plan.widths(), "the fused model has parent 0's widths");
        FloatBatch batch = DagNets.data(p0, 32, 11);
        float[] logits = DagNets.logits(fused, batch);
        assertEquals(32 * DagNets.CLASSES, logits.length);
        for (float v : logits) {
            assertTrue(Float.isFinite(v), "logit " + v);
        }
        assertThrows(IncompatibleModelsException.class, () -> WeightMatching.fuse(List.of(p0, p1)));
        assertThrows(IncompatibleModelsException.class, () -> VanillaAverage.fuse(List.of(p0, p1)));
    }

    /** A transport plan onto fewer neurons of parent 0: the fused stream still reads and writes whole slices. */
    @Test
    void actMatchFusesAWiderParentIntoANarrowerTemplate() {
        Model p0 = DagNets.residualMlp(6, 4);
        Model fused = actMatch(p0, DagNets.residualMlp(8, 6), DagNets.residualMlp(9, 5));
        assertEquals(LevelPlanner.plan(p0).widths(), LevelPlanner.plan(fused).widths());
    }

    /** The alignment moves the whole space: the depthwise kernels, the stacked rows after the Concat and the norm. */
    @Test
    void selectionMovesEverythingTheSpaceTouches() {
        Model p = net("conv");
        LevelPlan plan = LevelPlanner.plan(p);
        ModelWeights before = ModelWeights.read(p.graph(), plan);
        int stream = plan.level(5).space();
        int[] reversed = {5, 4, 3, 2, 1, 0};
        int[] b2 = {4, 3, 2, 1, 0};
        SpaceAlignment a = SpaceAlignment.selection(plan, Map.of(stream, reversed, plan.level(3).space(), b2));
        ModelWeights after = a.apply(before);
        assertTrue(plan.level(5).depthwise());
        for (int c = 0; c < 6; c++) {
            int old = reversed[c];
            for (int r = 0; r < before.level(5).length; r++) {
                assertEquals(before.level(5)[r][old], after.level(5)[r][c], "depthwise kernel row " + r);
            }
        }
        // level 4 writes the stream and reads spaces [b1 (3), b2 (5)] stacked, one row per channel (1x1 kernel)
        assertEquals(List.of(plan.level(2).space(), plan.level(3).space()), plan.level(4).binding().spaces());
        for (int j = 0; j < 6; j++) {
            for (int c = 0; c < 5; c++) {
                assertEquals(before.level(4)[3 + b2[c]][reversed[j]], after.level(4)[3 + c][j]);
            }
            for (int c = 0; c < 3; c++) {
                assertEquals(before.level(4)[c][reversed[j]], after.level(4)[c][j], "b1's rows stay");
            }
        }
        double[][] norm = before.perNeuron(0);
        assertEquals(norm[0][3 + b2[1]], after.perNeuron(0)[0][3 + 1]);
        assertEquals(norm[1][3 + b2[1]], after.perNeuron(0)[1][3 + 1]);
        assertTrue(a.moves(plan.level(8)), "the classifier reads the stream");
        assertFalse(a.moves(plan.level(1)), "the stem writes its own space");
    }

    @Test
    void classesAndWrongWidthsAreRefused() {
        LevelPlan plan = LevelPlanner.plan(net("residual"));
        int classes = plan.lastLevel().space();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SpaceAlignment.selection(plan, Map.of(classes, new int[] {2, 1, 0})));
        assertTrue(e.getMessage().contains("holds the classes"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> SpaceAlignment.of(plan, Map.of(0, NeuronMap.identity(7))));
        assertEquals("space 0 has 8 neurons, found a map of 7", e.getMessage());
        assertEquals(List.of(0, 1), SpaceAlignment.movableSpaces(plan));
    }
}
