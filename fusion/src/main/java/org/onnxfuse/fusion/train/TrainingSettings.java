package org.onnxfuse.fusion.train;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeMap;
import org.onnxfuse.fusion.pipeline.InvalidSettingException;

/**
 * Every setting of training one segment, checked once, here, in the style of
 * {@link org.onnxfuse.fusion.pipeline.FusionConfig}: a setting that cannot be used raises
 * {@link InvalidSettingException} whose message names it with its command-line option, what was
 * expected and what was found.
 *
 * @param epochs             passes over the training split at most
 * @param learningRate       the learning rate of every level without its own
 * @param levelLearningRates per-level learning rates (1-based level index), overriding {@code learningRate}
 * @param optimizer          Adam or SGD
 * @param weightDecay        wd >= 0
 * @param weightDecayMode    how wd enters a step; default L2 (see {@link WeightDecayMode#L2})
 * @param momentum           SGD's momentum mu in [0, 1); Adam has its own betas
 * @param nesterov           SGD with Nesterov momentum (needs mu > 0)
 * @param patience           training stops after this many epochs without a new best validation loss
 * @param batchSize          rows per mini-batch
 * @param start              where training starts from the given parameters
 * @param seed               seeds the split, the start, the shuffles and the range test
 */
public record TrainingSettings(int epochs, LearningRate learningRate, SortedMap<Integer, LearningRate> levelLearningRates,
                               OptimizerKind optimizer, double weightDecay, WeightDecayMode weightDecayMode,
                               double momentum, boolean nesterov, int patience, int batchSize, StartingPoint start,
                               long seed) {
    /** The reference implementation's largest default (its VGG and ViT runs); early stopping ends most runs sooner. */
    public static final int DEFAULT_EPOCHS = 100;
    public static final int DEFAULT_PATIENCE = 15;
    public static final int DEFAULT_BATCH_SIZE = 32;
    /** The reference implementation's default for its MLPs. */
    public static final double DEFAULT_WEIGHT_DECAY = 1e-4;
    public static final double DEFAULT_MOMENTUM = 0.9;

    public TrainingSettings {
        Objects.requireNonNull(learningRate, "learningRate");
        Objects.requireNonNull(optimizer, "optimizer");
        Objects.requireNonNull(weightDecayMode, "weightDecayMode");
        Objects.requireNonNull(start, "start");
        levelLearningRates = Collections.unmodifiableSortedMap(new TreeMap<>(levelLearningRates));
        if (epochs < 1) {
            throw invalid("epochs (--epochs)", "at least 1", epochs);
        }
        for (Map.Entry<Integer, LearningRate> e : levelLearningRates.entrySet()) {
            Objects.requireNonNull(e.getValue(), "learning rate of level " + e.getKey());
            if (e.getKey() < 1) {
                throw invalid("learning rate of level " + e.getKey() + " (--lr " + e.getKey() + ":" + e.getValue()
                        + ")", "a level numbered from 1", e.getKey());
            }
        }
        if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
            throw invalid("weight decay (--weight-decay)", "a finite number >= 0", weightDecay);
        }
        if (!(momentum >= 0 && momentum < 1)) {
            throw invalid("momentum (--momentum)", "a number in [0, 1)", momentum);
        }
        if (nesterov && momentum == 0) {
            throw invalid("Nesterov momentum (--nesterov)", "a momentum above 0 (--momentum)", momentum);
        }
        if (patience < 1) {
            throw invalid("patience (--patience)", "at least 1 epoch", patience);
        }
        if (batchSize < 1) {
            throw invalid("training batch size (--train-batch-size)", "at least 1 row", batchSize);
        }
    }

    /** Adam, learning rate auto, 100 epochs, patience 15, batch 32, L2 weight decay 1e-4, keep the start, seed 0. */
    public static TrainingSettings defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Level {@code level}'s learning rate: its own, else {@link #learningRate}. */
    public LearningRate learningRateFor(int level) {
        return levelLearningRates.getOrDefault(level, learningRate);
    }

    /**
     * The settings as the fused model's provenance will record them (next to the fusion's, which
     * hold the seed): numbers as numbers, choices by their command-line names.
     */
    public Map<String, Object> recorded() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("epochs", epochs);
        c.put("lr", learningRate.toString());
        Map<String, String> perLevel = new LinkedHashMap<>();
        levelLearningRates.forEach((level, rate) -> perLevel.put(Integer.toString(level), rate.toString()));
        c.put("levelLr", Collections.unmodifiableMap(perLevel));
        c.put("optimizer", optimizer.cliName());
        c.put("weightDecay", weightDecay);
        c.put("weightDecayMode", weightDecayMode.name().toLowerCase(Locale.ROOT));
        c.put("momentum", momentum);
        c.put("nesterov", nesterov);
        c.put("patience", patience);
        c.put("batchSize", batchSize);
        c.put("start", start.toString());
        return Collections.unmodifiableMap(c);
    }

    /** These settings with at most {@code value} epochs. */
    public TrainingSettings withEpochs(int value) {
        return new TrainingSettings(value, learningRate, levelLearningRates, optimizer, weightDecay, weightDecayMode,
                momentum, nesterov, patience, batchSize, start, seed);
    }

    /** These settings with seed {@code value}. */
    public TrainingSettings withSeed(long value) {
        return new TrainingSettings(epochs, learningRate, levelLearningRates, optimizer, weightDecay, weightDecayMode,
                momentum, nesterov, patience, batchSize, start, value);
    }

    private static InvalidSettingException invalid(String setting, String expected, Object found) {
        return new InvalidSettingException(setting + ": expected " + expected + ", found " + found);
    }

    /** Fluent setters of every setting; nothing is checked until {@link #build()}. */
    public static final class Builder {
        private int epochs = DEFAULT_EPOCHS;
        private LearningRate learningRate = LearningRate.AUTO;
        private final SortedMap<Integer, LearningRate> levelLearningRates = new TreeMap<>();
        private OptimizerKind optimizer = OptimizerKind.ADAM;
        private double weightDecay = DEFAULT_WEIGHT_DECAY;
        private WeightDecayMode weightDecayMode = WeightDecayMode.L2;
        private double momentum = DEFAULT_MOMENTUM;
        private boolean nesterov;
        private int patience = DEFAULT_PATIENCE;
        private int batchSize = DEFAULT_BATCH_SIZE;
        private StartingPoint start = StartingPoint.KEEP;
        private long seed;

        private Builder() {
        }

        /** Default 100. */
        public Builder epochs(int value) {
            epochs = value;
            return this;
        }

        /** Every level's learning rate unless set per level; default auto. */
        public Builder learningRate(LearningRate value) {
            learningRate = Objects.requireNonNull(value);
            return this;
        }

        /** Level {@code level}'s own learning rate (1-based). */
        public Builder learningRate(int level, LearningRate value) {
            levelLearningRates.put(level, Objects.requireNonNull(value));
            return this;
        }

        /** Default adam. */
        public Builder optimizer(OptimizerKind value) {
            optimizer = Objects.requireNonNull(value);
            return this;
        }

        /** Default 1e-4. */
        public Builder weightDecay(double value) {
            weightDecay = value;
            return this;
        }

        /** Default L2. */
        public Builder weightDecayMode(WeightDecayMode value) {
            weightDecayMode = Objects.requireNonNull(value);
            return this;
        }

        /** SGD's momentum; default 0.9. */
        public Builder momentum(double value) {
            momentum = value;
            return this;
        }

        /** SGD with Nesterov momentum; default off. */
        public Builder nesterov(boolean value) {
            nesterov = value;
            return this;
        }

        /** Default 15 epochs. */
        public Builder patience(int value) {
            patience = value;
            return this;
        }

        /** Rows per mini-batch; default 32. */
        public Builder batchSize(int value) {
            batchSize = value;
            return this;
        }

        /** Default: keep the given parameters. */
        public Builder start(StartingPoint value) {
            start = Objects.requireNonNull(value);
            return this;
        }

        /** Default 0. */
        public Builder seed(long value) {
            seed = value;
            return this;
        }

        /** @throws InvalidSettingException for the first setting that cannot be used */
        public TrainingSettings build() {
            return new TrainingSettings(epochs, learningRate, levelLearningRates, optimizer, weightDecay,
                    weightDecayMode, momentum, nesterov, patience, batchSize, start, seed);
        }
    }
}
