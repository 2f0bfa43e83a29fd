package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.train.LearningRateRangeTest;
import org.onnxfuse.fusion.train.TrainingResult;
import org.onnxfuse.onnx.ir.Model;

/**
 * What the gradient variant's level reports show of the residual blocks it trained as one segment:
 * the block's last level reads "block of levels ... trained", and no block fell back to its levels'
 * linear fits with a warning.
 */
final class TrainedBlocks {
    private TrainedBlocks() {
    }

    /** Each of {@code blocks} (a block's levels, "3, 4, 5, 6") trained as one segment; none fell back. */
    static void require(FusionResult result, String... blocks) {
        assertTrue(result.warnings().stream().noneMatch(w -> w.contains("not trained as one segment")
                        || w.contains("no training segment")), result.warnings().toString());
        String methods = result.levels().stream().map(LevelReport::method).toList().toString();
        for (String block : blocks) {
            assertTrue(methods.contains("block of levels " + block + " trained"), methods);
        }
    }

    /**
     * The block ending at level {@code last} was kept untrained at its start, which reproduces its targets to
     * float precision (stop exact_start): a parent fused with its permuted copy, where the segment computes the
     * parents' Add output on every row only if it is fed what the block reads besides its input, row by row.
     */
    static void requireExactStart(FusionResult result, int last) {
        TrainingResult t = result.levels().get(last - 1).training();
        assertTrue(t != null && t.stop() == TrainingResult.Stop.EXACT_START, "level " + last + ": " + t);
    }

    /**
     * {@code parents}, which differ (so the block's levels have no exact linear fit), fused by kf-gradient
     * on {@code calibration}: the block of levels {@code block} ending at level {@code last} trains epochs
     * that lower its validation loss, and the weight of level {@code moved}, one the block trains, moves
     * from where kf-linear put it; the block is a transformer's, so its automatic learning rate was swept
     * from {@link LearningRateRangeTest#SMALLEST_TRANSFORMER}. Returns the kf-gradient fusion.
     */
    static FusionResult requireTrainedFromTheLinearFit(List<Model> parents, long samples, Path calibration,
                                                       String block, int last, int moved) {
        FusionResult linear = Fixtures.fuse(parents, FusionMethod.KF_LINEAR, samples, calibration);
        FusionResult gradient = Fixtures.fuse(parents, FusionMethod.KF_GRADIENT, samples, calibration);
        require(gradient, block);
        TrainingResult t = gradient.levels().get(last - 1).training();
        assertTrue(t.epochsRun() > 0 && t.bestEpoch() > 0 && t.bestValidationLoss() < t.startValidationLoss(),
                "the block trains from its linear fit: " + t);
        assertEquals(LearningRateRangeTest.SMALLEST_TRANSFORMER, t.rangeTest().get(0).learningRate(),
                "a transformer block's sweep starts at its own smallest rate: " + t.rangeTest());
        String weight = LevelPlanner.plan(parents.get(0)).level(moved).affine().inputs().get(1);
        double change = Fixtures.maxAbsDifference(linear.model().graph().initializer(weight).orElseThrow().toFloats(),
                gradient.model().graph().initializer(weight).orElseThrow().toFloats());
        System.out.println("block of levels " + block + ": " + t.epochsRun() + " epochs, validation loss "
                + t.startValidationLoss() + " -> " + t.bestValidationLoss() + ", level " + moved + "'s weight moved "
                + change + " from its linear fit");
        assertTrue(change > 1e-4, "level " + moved + "'s weight stayed at its linear fit: " + change);
        return gradient;
    }
}
