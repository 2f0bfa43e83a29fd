package org.onnxfuse.fusion.pipeline;

import org.onnxfuse.fusion.importance.Importance;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.onnxfuse.onnx.ir.Model;

/**
 * The fused model and what happened per level. Immutable.
 *
 * @param model       the fused model: parent 0's graph with every level's weights rewritten; same
 *                    inputs and outputs as the parents; weights stored as {@link FusionConfig#weightType()}
 * @param settings    the settings as the fusion recorded them in the model's provenance
 *                    ({@link FusionConfig#recorded}); unmodifiable
 * @param levels      one report per level, in order
 * @param warnings    warnings in the order they arose
 * @param importance  the neuron importance scores the interpolation used, or null for the baselines
 * @param importanceMillis wall time of scoring the neurons (0 for uniform scores and the baselines)
 * @param totalMillis wall time of {@link Fusion#fuse()}
 * @param float32Model the same model with float32 weights; {@code model} itself unless
 *                    {@link FusionConfig#weightType()} stores them in a narrower type
 */
public record FusionResult(Model model, Map<String, Object> settings, List<LevelReport> levels, List<String> warnings, Importance importance,
                           double importanceMillis, double totalMillis, Model float32Model) {
    public FusionResult {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(float32Model, "float32Model");
        settings = Collections.unmodifiableMap(new LinkedHashMap<>(settings));
        levels = List.copyOf(levels);
        warnings = List.copyOf(warnings);
    }

    /** Sum of a per-level time over all levels. */
    public double inferenceMillis() {
        return levels.stream().mapToDouble(LevelReport::inferenceMillis).sum();
    }

    public double statisticsMillis() {
        return levels.stream().mapToDouble(LevelReport::statisticsMillis).sum();
    }

    public double groupingMillis() {
        return levels.stream().mapToDouble(LevelReport::groupingMillis).sum();
    }

    public double solveMillis() {
        return levels.stream().mapToDouble(LevelReport::solveMillis).sum();
    }
}
