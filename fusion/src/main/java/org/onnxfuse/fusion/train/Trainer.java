package org.onnxfuse.fusion.train;

import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Trains one segment's parameters against its {@link Objective} (ALGORITHM.md section 4, step 4):
 * the rows are split 80/20 ({@link DataSplit}); training starts from the given parameters, kept,
 * perturbed or re-initialised ({@link StartingPoint}); the learning rate is the level's own, or
 * auto ({@link LearningRateRangeTest}); every epoch takes one optimiser step per shuffled
 * mini-batch of the training split, then measures the validation loss; training stops after the
 * epochs, after {@code patience} epochs without a new best validation loss, or when a loss stops
 * being finite, and returns the parameters of the best epoch (the start's if none beat it).
 *
 * <p>Memory: besides what the {@link RowSource} holds, the rows' numbers (4 bytes a row, shuffled
 * in place each epoch), one batch of rows at a time, and parameter-sized float buffers: the
 * current and the best values (during the range test: the start and a candidate's), the
 * gradients and the optimiser's state (Adam two moments, SGD one velocity), at most 5 x 4 bytes
 * per parameter value with Adam and 4 x 4 with SGD.
 * The same seed, settings, starting values and a deterministic objective give bit-identical
 * parameters.
 */
public final class Trainer {
    private final TrainingSettings settings;

    public Trainer(TrainingSettings settings) {
        this.settings = Objects.requireNonNull(settings, "settings");
    }

    public TrainingSettings settings() {
        return settings;
    }

    /**
     * Trains level {@code level}'s parameters, starting from {@code initial} (not modified), on
     * {@code rows}.
     *
     * @throws org.onnxfuse.fusion.pipeline.InvalidSettingException for fewer than 2 rows
     * @throws IllegalArgumentException when {@code initial} does not fit the objective's parameters
     * @throws IllegalStateException when the starting parameters' validation loss is not finite
     */
    public TrainingOutcome train(int level, Objective objective, float[][] initial, RowSource rows,
                                 TrainingProgress progress) {
        return train(level, objective, initial, rows, progress, 0);
    }

    /**
     * As {@link #train(int, Objective, float[][], RowSource, TrainingProgress)}, returning the start
     * untrained (stop {@link TrainingResult.Stop#EXACT_START}) when its validation loss is at most
     * {@code negligibleLoss}: a start that already reproduces its targets to float precision (the
     * first level of an MLP started from the parents' weights) has nothing to learn, and a range
     * test on it would only measure rounding.
     */
    public TrainingOutcome train(int level, Objective objective, float[][] initial, RowSource rows,
                                 TrainingProgress progress, double negligibleLoss) {
        return train(level, objective, initial, rows, progress, negligibleLoss, LearningRateRangeTest.SMALLEST);
    }

    /**
     * As {@link #train(int, Objective, float[][], RowSource, TrainingProgress, double)}, an automatic
     * learning rate swept from {@code smallestRate} up ({@link LearningRateRangeTest#SMALLEST}, or
     * {@link LearningRateRangeTest#SMALLEST_TRANSFORMER} for a transformer's blocks).
     */
    public TrainingOutcome train(int level, Objective objective, float[][] initial, RowSource rows,
                                 TrainingProgress progress, double negligibleLoss, double smallestRate) {
        long started = System.nanoTime();
        ParameterLayout layout = objective.parameters();
        layout.requireFits(initial, "values");
        DataSplit split = DataSplit.of(rows.rows(), settings.seed());
        SplittableRandom root = new SplittableRandom(settings.seed());
        SplittableRandom startRandom = root.split();
        SplittableRandom shuffleRandom = root.split();
        SplittableRandom rangeTestRandom = root.split();

        Passes passes = new Passes(objective, rows, settings.batchSize());
        int[] validation = split.validation();
        float[][] parameters = settings.start().apply(layout, initial, startRandom);
        double startLoss = passes.loss(validation, parameters);
        if (!Double.isFinite(startLoss)) {
            throw new IllegalStateException("validation loss of level " + level + " at the start: expected a finite"
                    + " number, found " + startLoss + " (check the segment's inputs and targets)");
        }

        if (startLoss <= negligibleLoss) {
            return new TrainingOutcome(parameters, new TrainingResult(level, 0, 0, startLoss, startLoss, 0, List.of(),
                    TrainingResult.Stop.EXACT_START, Duration.ofNanos(System.nanoTime() - started)));
        }
        LearningRate asked = settings.learningRateFor(level);
        List<TrainingResult.RangeTestPoint> sweep = List.of();
        double learningRate;
        if (asked.auto()) {
            sweep = LearningRateRangeTest.sweep(settings, layout, passes, split, parameters, startLoss,
                    rangeTestRandom, smallestRate);
            learningRate = LearningRateRangeTest.choose(sweep, startLoss);
            progress.learningRateChosen(level, learningRate, sweep);
        } else {
            learningRate = asked.value();
        }

        float[][] best = layout.copyOf(parameters);
        double bestLoss = startLoss;
        int bestEpoch = 0;
        int epoch = 0;
        TrainingResult.Stop stop = TrainingResult.Stop.EPOCHS;
        MiniBatches batches = new MiniBatches(split.train(), settings.batchSize(), shuffleRandom);
        // the host's steps, whatever the backend: the parameters and gradients live on the host, and a
        // device step would move 28 bytes per value every step (Adam: four buffers up, three down; see Optimizer)
        Optimizer optimizer = Optimizer.create(settings, layout);
        while (epoch < settings.epochs()) {
            epoch++;
            double trainLoss = passes.train(batches.nextEpoch(), parameters, optimizer, learningRate);
            double validationLoss = Double.isFinite(trainLoss) ? passes.loss(validation, parameters) : trainLoss;
            if (validationLoss < bestLoss) {
                bestLoss = validationLoss;
                bestEpoch = epoch;
                ParameterLayout.copy(parameters, best);
            }
            progress.epochFinished(new EpochReport(level, epoch, settings.epochs(), trainLoss, validationLoss,
                    bestEpoch, bestLoss, learningRate));
            if (!Double.isFinite(validationLoss)) {
                stop = TrainingResult.Stop.DIVERGED;
                break;
            }
            if (epoch - bestEpoch >= settings.patience()) {
                stop = TrainingResult.Stop.PATIENCE;
                break;
            }
        }
        Duration time = Duration.ofNanos(System.nanoTime() - started);
        return new TrainingOutcome(best, new TrainingResult(level, epoch, bestEpoch, startLoss, bestLoss, learningRate,
                sweep, stop, time));
    }
}
