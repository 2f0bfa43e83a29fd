package org.onnxfuse.fusion.plan;

import java.util.List;
import org.onnxfuse.onnx.ir.Dim;

/**
 * The levels of one parent, from input to output, and the ops after the last cut (Identity,
 * Softmax, ...). Immutable; built by {@link LevelPlanner#plan}.
 *
 * @param inputs      every graph input in order, float and passed-through (int64, bool) alike
 * @param output      the model's (single) output
 * @param outputShape its shape as planned (symbolic batch kept)
 * @param levels      levels in order; {@code levels.get(l - 1)} is level l
 * @param trailingOps ops after the last level's cut, possibly none
 * @param spaces      the neuron spaces, each level's cut in exactly one
 * @param joins       ops that belong to no level's input chain: joins of branches (residual Add,
 *                    gates, Concat) and ops whose output several levels read, in topological order
 * @param perNeuron   ops with a parameter per neuron of a space (a BatchNormalization that is not
 *                    folded): fusion rewrites their parameters for the fused neurons
 * @param heads       every graph output in order; {@code output} is the first that carries classes
 * @param blocks      the residual blocks (segments a residual Add closes), in the order of their Adds
 * @param unsegmented per residual Add after an attention that closes no block, why (naming the node):
 *                    kf-gradient and kf-auto fuse those levels without training them together
 */
public record LevelPlan(List<ModelInput> inputs, String output, List<Dim> outputShape, List<Level> levels,
                        List<LevelOp> trailingOps, List<NeuronSpace> spaces, List<LevelOp> joins,
                        List<PerNeuronOp> perNeuron, List<OutputHead> heads, List<ResidualBlock> blocks,
                        List<String> unsegmented) {
    public LevelPlan {
        heads = List.copyOf(heads);
        blocks = List.copyOf(blocks);
        unsegmented = List.copyOf(unsegmented);
        inputs = List.copyOf(inputs);
        outputShape = List.copyOf(outputShape);
        levels = List.copyOf(levels);
        trailingOps = List.copyOf(trailingOps);
        spaces = List.copyOf(spaces);
        joins = List.copyOf(joins);
        perNeuron = List.copyOf(perNeuron);
    }

    /** The main input: the first float input (the first input when none is float). */
    public ModelInput mainInput() {
        return inputs.stream().filter(ModelInput::floating).findFirst().orElse(inputs.get(0));
    }

    /** The name of {@link #mainInput()}. */
    public String input() {
        return mainInput().name();
    }

    /** The declared shape of {@link #mainInput()}. */
    public List<Dim> inputShape() {
        return mainInput().shape();
    }

    /** Space {@code id}. */
    public NeuronSpace space(int id) {
        return spaces.get(id);
    }

    /** Whether {@code block} holds attention: some of its levels write a space split into heads. */
    public boolean holdsAttention(ResidualBlock block) {
        return block.levels().stream().anyMatch(l -> spaceOf(l).headed());
    }

    /** The space of level {@code index}'s cut. */
    public NeuronSpace spaceOf(int index) {
        return spaces.get(level(index).space());
    }

    /**
     * Whether the plan is one chain: every level reads the previous level's cut (the first the
     * model input), and no space, join or per-neuron op ties levels together.
     */
    public boolean sequential() {
        if (!joins.isEmpty() || !perNeuron.isEmpty() || spaces.size() != levels.size()) {
            return false;
        }
        for (Level l : levels) {
            List<Integer> expected = l.index() == 1 ? List.of() : List.of(level(l.index() - 1).space());
            if (l.depthwise() || !l.binding().spaces().equals(expected)) {
                return false;
            }
        }
        return true;
    }

    /** The residual blocks whose last level is {@code index}, innermost (closest Add) first. */
    public List<ResidualBlock> blocksEndingAt(int index) {
        return blocks.stream().filter(b -> b.lastLevel() == index).toList();
    }

    /** Whether level {@code index} lies inside some residual block. */
    public boolean inBlock(int index) {
        return blocks.stream().anyMatch(b -> b.levels().contains(index));
    }

    /**
     * The axis holding the neurons of {@code value}: a level's cut, or the output of a join or
     * shared op that keeps them (a residual Add); -1 when the plan does not place it so.
     */
    public int neuronAxisOf(String value) {
        for (Level l : levels) {
            if (l.cut().equals(value)) {
                return l.neuronAxis();
            }
        }
        for (LevelOp op : joins) {
            if (op.output().equals(value) && op.neuronAxis() >= 0) {
                return op.neuronAxis();
            }
        }
        return -1;
    }

    /** Level {@code index}, 1-based. */
    public Level level(int index) {
        if (index < 1 || index > levels.size()) {
            throw new IndexOutOfBoundsException("level " + index + " of a plan with levels 1.." + levels.size());
        }
        return levels.get(index - 1);
    }

    /** The level whose classes {@link #output()} carries (the logits). */
    public Level lastLevel() {
        return heads.stream().filter(h -> h.output().equals(output)).findFirst()
                .map(h -> level(h.classLevel())).orElseThrow();
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
