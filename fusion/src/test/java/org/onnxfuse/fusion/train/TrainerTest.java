package org.onnxfuse.fusion.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class TrainerTest {
    private static final long DATA_SEED = 11;
    private static final double[] SCALES = {1, 0.5, 2, 1};
    /** W* (4 x 2, row-major) and b*. */
    private static final float[][] TRUTH = {{0.8f, -0.3f, 0.5f, 1.2f, -0.7f, 0.1f, 0.25f, -0.9f}, {0.4f, -0.6f}};

    private final LeastSquaresObjective objective = new LeastSquaresObjective(4, 1.0, 2.0);
    private final HeldRows rows = objective.noiselessRows(250, SCALES, TRUTH, DATA_SEED);

    @ParameterizedTest
    @EnumSource(OptimizerKind.class)
    void oneStepLowersTheLossOfALeastSquaresProblem(OptimizerKind kind) {
        TrainingSettings settings = TrainingSettings.builder().optimizer(kind).weightDecay(0).build();
        float[][] parameters = objective.parameters().zeros();
        float[][] gradients = objective.parameters().zeros();
        Batch all = rows.batch(DataSplit.identity(rows.rows()));
        double before = objective.lossAndGradients(all, parameters, gradients);
        Optimizer.create(settings, objective.parameters()).step(parameters, gradients, 0.01);
        double after = objective.loss(all, parameters);
        assertTrue(after < before, kind + ": loss " + before + " -> " + after);
    }

    /**
     * Noiseless targets, so the training split's least-squares answer is also every batch's and
     * the validation split's: training must reach it, to 1e-5 in every parameter (the targets
     * are float32, the answer is solved in float64 from the same rows).
     */
    @ParameterizedTest
    @EnumSource(OptimizerKind.class)
    void trainingConvergesToTheClosedFormLeastSquaresAnswer(OptimizerKind kind) {
        TrainingSettings settings = TrainingSettings.builder().optimizer(kind).weightDecay(0).epochs(300)
                .patience(300).learningRate(LearningRate.fixed(kind == OptimizerKind.ADAM ? 0.01 : 0.02)).seed(3)
                .build();
        TrainingOutcome outcome = new Trainer(settings).train(1, objective, objective.parameters().zeros(), rows,
                TrainingProgress.NONE);
        double[][] answer = objective.minimiser(rows, DataSplit.of(rows.rows(), 3).train(), 0);
        assertTrue(maxDifference(outcome.parameters(), answer) < 1e-5,
                kind + ": max difference " + maxDifference(outcome.parameters(), answer));
    }

    /**
     * With L2 decay wd the optimiser's fixed point is the ridge answer of loss + wd/2 ||theta||^2,
     * nearer zero than the plain one; full-batch steps on the training rows reach it to 1e-5.
     * (The trainer would return an earlier epoch: the validation loss has no penalty.)
     */
    @ParameterizedTest
    @EnumSource(OptimizerKind.class)
    void l2WeightDecayConvergesToTheRidgeAnswer(OptimizerKind kind) {
        double decay = 0.5;
        TrainingSettings settings = TrainingSettings.builder().optimizer(kind).weightDecay(decay).build();
        int[] train = DataSplit.of(rows.rows(), 3).train();
        float[][] parameters = objective.parameters().zeros();
        float[][] gradients = objective.parameters().zeros();
        Optimizer optimizer = Optimizer.create(settings, objective.parameters());
        Batch batch = rows.batch(train);
        for (int step = 0; step < 3000; step++) {
            objective.lossAndGradients(batch, parameters, gradients);
            optimizer.step(parameters, gradients, kind == OptimizerKind.ADAM ? 0.01 : 0.02);
        }
        double[][] ridge = objective.minimiser(rows, train, decay);
        double[][] plain = objective.minimiser(rows, train, 0);
        assertTrue(norm(ridge) < 0.9 * norm(plain), "the decay must matter: " + norm(ridge) + " vs " + norm(plain));
        assertTrue(maxDifference(parameters, ridge) < 1e-5,
                kind + ": max difference " + maxDifference(parameters, ridge));
    }

    /**
     * Training pulls p from 0 towards 10 (the training rows' target) and passes the validation
     * rows' target 3 on the way: the validation loss falls, then rises; the trainer stops
     * {@code patience} epochs after the best and returns that epoch's p.
     */
    @Test
    void earlyStoppingRestoresTheBestWeights() {
        long seed = 5;
        int patience = 4;
        HeldRows pulled = MeanObjective.splitTargets(100, seed, 10, 3);
        MeanObjective mean = new MeanObjective();
        TrainingSettings settings = TrainingSettings.builder().optimizer(OptimizerKind.SGD).momentum(0).weightDecay(0)
                .learningRate(LearningRate.fixed(0.01)).epochs(200).patience(patience).seed(seed).build();
        List<EpochReport> epochs = new ArrayList<>();
        TrainingOutcome outcome = new Trainer(settings).train(2, mean, mean.parameters().zeros(), pulled,
                new TrainingProgress() {
                    @Override
                    public void epochFinished(EpochReport report) {
                        epochs.add(report);
                    }
                });

        TrainingResult result = outcome.result();
        EpochReport best = epochs.stream().min((a, b) -> Double.compare(a.validationLoss(), b.validationLoss()))
                .orElseThrow();
        assertEquals(TrainingResult.Stop.PATIENCE, result.stop());
        assertEquals(best.epoch(), result.bestEpoch());
        assertEquals(result.bestEpoch() + patience, result.epochsRun());
        assertEquals(result.epochsRun(), epochs.size());
        assertTrue(result.bestEpoch() > 1, "the validation loss must fall first: best epoch " + result.bestEpoch());
        float p = outcome.parameters()[0][0];
        double kept = (p - 3.0) * (p - 3.0);
        assertEquals(best.validationLoss(), kept, 1e-12);
        assertEquals(result.bestValidationLoss(), kept, 1e-12);
        assertTrue(epochs.get(epochs.size() - 1).validationLoss() > 2 * kept,
                "the last epoch's weights must be worse than the kept ones");
    }

    @Test
    void theSameSeedGivesBitIdenticalParameters() {
        TrainingSettings settings = TrainingSettings.builder().epochs(20).learningRate(LearningRate.AUTO)
                .start(StartingPoint.perturb(0.2)).seed(7).build();
        float[][] initial = {TRUTH[0].clone(), TRUTH[1].clone()};
        TrainingOutcome first = new Trainer(settings).train(1, objective, initial, rows, TrainingProgress.NONE);
        TrainingOutcome second = new Trainer(settings).train(1, objective, initial, rows, TrainingProgress.NONE);
        TrainingOutcome otherSeed = new Trainer(TrainingSettings.builder().epochs(20).learningRate(LearningRate.AUTO)
                .start(StartingPoint.perturb(0.2)).seed(8).build()).train(1, objective, initial, rows,
                TrainingProgress.NONE);
        for (int i = 0; i < initial.length; i++) {
            assertArrayEquals(bits(first.parameters()[i]), bits(second.parameters()[i]));
        }
        assertEquals(first.result().rangeTest(), second.result().rangeTest());
        assertEquals(first.result().bestValidationLoss(), second.result().bestValidationLoss());
        assertFalse(java.util.Arrays.equals(bits(first.parameters()[0]), bits(otherSeed.parameters()[0])),
                "another seed must give other parameters");
    }

    @Test
    void aDivergingRunStopsAndKeepsTheStartingWeights() {
        TrainingSettings settings = TrainingSettings.builder().optimizer(OptimizerKind.SGD)
                .learningRate(LearningRate.fixed(1e3)).epochs(50).build();
        float[][] initial = objective.parameters().zeros();
        TrainingOutcome outcome = new Trainer(settings).train(1, objective, initial, rows, TrainingProgress.NONE);
        assertEquals(TrainingResult.Stop.DIVERGED, outcome.result().stop());
        assertEquals(0, outcome.result().bestEpoch());
        assertTrue(outcome.result().epochsRun() < 50);
        for (int i = 0; i < initial.length; i++) {
            assertArrayEquals(initial[i], outcome.parameters()[i]);
        }
    }

    @Test
    void trainingDoesNotModifyTheInitialValues() {
        float[][] initial = {TRUTH[0].clone(), TRUTH[1].clone()};
        new Trainer(TrainingSettings.builder().epochs(3).learningRate(LearningRate.fixed(0.1))
                .start(StartingPoint.perturb(0.5)).build()).train(1, objective, initial, rows, TrainingProgress.NONE);
        assertArrayEquals(TRUTH[0], initial[0]);
        assertArrayEquals(TRUTH[1], initial[1]);
    }

    private static int[] bits(float[] values) {
        int[] out = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = Float.floatToRawIntBits(values[i]);
        }
        return out;
    }

    static double maxDifference(float[][] trained, double[][] expected) {
        double max = 0;
        for (int i = 0; i < trained.length; i++) {
            for (int j = 0; j < trained[i].length; j++) {
                max = Math.max(max, Math.abs(trained[i][j] - expected[i][j]));
            }
        }
        return max;
    }

    private static double norm(double[][] values) {
        double sum = 0;
        for (double[] v : values) {
            for (double x : v) {
                sum += x * x;
            }
        }
        return Math.sqrt(sum);
    }
}
