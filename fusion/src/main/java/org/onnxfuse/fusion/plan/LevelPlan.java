package org.onnxfuse.fusion.plan;

import java.util.List;
import org.onnxfuse.onnx.ir.Dim;

/**
 * The levels of one parent, from input to output, and the ops after the last cut (Identity,
 * Softmax, ...). Immutable; built by {@link LevelPlanner#plan}.
 *
 * @param input       the model's (single) input
 * @param inputShape  its declared shape
 * @param output      the model's (single) output
 * @param outputShape its shape as planned (symbolic batch kept)
 * @param levels      levels in order; {@code levels.get(l - 1)} is level l
 * @param trailingOps ops after the last level's cut, possibly none
 */
public record LevelPlan(String input, List<Dim> inputShape, String output, List<Dim> outputShape, List<Level> levels,
                        List<LevelOp> trailingOps) {
    public LevelPlan {
        inputShape = List.copyOf(inputShape);
        outputShape = List.copyOf(outputShape);
        levels = List.copyOf(levels);
        trailingOps = List.copyOf(trailingOps);
    }

    /** Level {@code index}, 1-based. */
    public Level level(int index) {
        if (index < 1 || index > levels.size()) {
            throw new IndexOutOfBoundsException("level " + index + " of a plan with levels 1.." + levels.size());
        }
        return levels.get(index - 1);
    }

    public Level lastLevel() {
        return levels.get(levels.size() - 1);
    }

    /** Cut tensor names in level order. */
    public List<String> cuts() {
        return levels.stream().map(Level::cut).toList();
    }

    /** Widths in level order (the last one is the number of classes). */
    public List<Long> widths() {
        return levels.stream().map(Level::width).toList();
    }
}
