package org.onnxfuse.fusion.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.pipeline.InvalidSettingException;

class TrainingSettingsTest {

    @Test
    void defaults() {
        TrainingSettings s = TrainingSettings.defaults();
        assertEquals(100, s.epochs());
        assertEquals(LearningRate.AUTO, s.learningRate());
        assertEquals(OptimizerKind.ADAM, s.optimizer());
        assertEquals(1e-4, s.weightDecay());
        assertEquals(WeightDecayMode.L2, s.weightDecayMode());
        assertEquals(0.9, s.momentum());
        assertFalse(s.nesterov());
        assertEquals(15, s.patience());
        assertEquals(32, s.batchSize());
        assertEquals(StartingPoint.KEEP, s.start());
        assertEquals(0, s.seed());
    }

    @Test
    void aLevelsOwnLearningRateOverridesTheDefault() {
        TrainingSettings s = TrainingSettings.builder().learningRate(LearningRate.fixed(1e-3))
                .learningRate(3, LearningRate.fixed(1e-4)).learningRate(4, LearningRate.AUTO).build();
        assertEquals(LearningRate.fixed(1e-3), s.learningRateFor(1));
        assertEquals(LearningRate.fixed(1e-4), s.learningRateFor(3));
        assertEquals(LearningRate.AUTO, s.learningRateFor(4));
    }

    @Test
    void settingsOutOfRangeNameTheSettingTheExpectedAndTheFound() {
        refused("epochs (--epochs): expected at least 1, found 0", () -> TrainingSettings.builder().epochs(0).build());
        refused("learning rate (--lr): expected auto or a finite number above 0, found 0.0", () -> LearningRate.fixed(0));
        refused("learning rate (--lr): expected auto or a finite number above 0, found -0.1",
                () -> LearningRate.fixed(-0.1));
        refused("learning rate (--lr): expected auto or a finite number above 0, found Infinity",
                () -> LearningRate.fixed(Double.POSITIVE_INFINITY));
        refused("learning rate (--lr): expected auto or a finite number above 0, found NaN",
                () -> LearningRate.fixed(Double.NaN));
        refused("learning rate (--lr): expected auto or a finite number above 0, found 'fast'",
                () -> LearningRate.parse("fast"));
        refused("learning rate of level 0 (--lr 0:0.01): expected a level numbered from 1, found 0",
                () -> TrainingSettings.builder().learningRate(0, LearningRate.fixed(0.01)).build());
        refused("weight decay (--weight-decay): expected a finite number >= 0, found -1.0E-4",
                () -> TrainingSettings.builder().weightDecay(-1e-4).build());
        refused("weight decay (--weight-decay): expected a finite number >= 0, found NaN",
                () -> TrainingSettings.builder().weightDecay(Double.NaN).build());
        refused("patience (--patience): expected at least 1 epoch, found 0",
                () -> TrainingSettings.builder().patience(0).build());
        refused("training batch size (--train-batch-size): expected at least 1 row, found 0",
                () -> TrainingSettings.builder().batchSize(0).build());
        refused("optimizer (--optimizer): expected one of [adam, sgd], found 'rmsprop'",
                () -> OptimizerKind.parse("rmsprop"));
        refused("momentum (--momentum): expected a number in [0, 1), found 1.0",
                () -> TrainingSettings.builder().momentum(1).build());
        refused("momentum (--momentum): expected a number in [0, 1), found -0.5",
                () -> TrainingSettings.builder().momentum(-0.5).build());
        refused("Nesterov momentum (--nesterov): expected a momentum above 0 (--momentum), found 0.0",
                () -> TrainingSettings.builder().momentum(0).nesterov(true).build());
        refused("perturbation (--perturb): expected a weight in (0, 1] on fresh values, found 0.0",
                () -> StartingPoint.perturb(0));
        refused("perturbation (--perturb): expected a weight in (0, 1] on fresh values, found 1.5",
                () -> StartingPoint.perturb(1.5));
    }

    @Test
    void recordedSettingsNameEveryChoice() {
        TrainingSettings s = TrainingSettings.builder().epochs(25).learningRate(LearningRate.fixed(1e-4))
                .learningRate(3, LearningRate.AUTO).optimizer(OptimizerKind.SGD).weightDecay(0)
                .weightDecayMode(WeightDecayMode.DECOUPLED).nesterov(true).patience(5).batchSize(64)
                .start(StartingPoint.perturb(0.1)).build();
        assertEquals("{epochs=25, lr=1.0E-4, levelLr={3=auto}, optimizer=sgd, weightDecay=0.0,"
                + " weightDecayMode=decoupled, momentum=0.9, nesterov=true, patience=5, batchSize=64,"
                + " start=perturb 0.1}", s.recorded().toString());
    }

    @Test
    void textSettingsParse() {
        assertEquals(LearningRate.AUTO, LearningRate.parse(" Auto "));
        assertEquals(LearningRate.fixed(3e-4), LearningRate.parse("3e-4"));
        assertEquals(OptimizerKind.SGD, OptimizerKind.parse("SGD"));
        assertEquals("auto", LearningRate.AUTO.toString());
    }

    private static void refused(String message, Supplier<?> setting) {
        assertEquals(message, assertThrows(InvalidSettingException.class, setting::get).getMessage());
    }
}
