package org.onnxfuse.fusion.plan;

import java.util.List;

/**
 * Cuts whose neurons must stay in one order because an elementwise join (residual Add, a gate
 * x * g(z)), a depthwise Conv or a per-neuron op ties them (ALGORITHM.md section 3, "Neuron
 * spaces"). One grouping of the parents' neurons serves every member cut. Built by union-find
 * over (value, neuron axis) in {@link LevelPlanner}.
 *
 * @param id      index in {@link LevelPlan#spaces()}, in the order the spaces' first levels appear
 * @param width   neurons in this parent
 * @param levels  indices of the levels whose cut lies in the space (its producers), in order
 * @param cuts    the member cuts: the producers' cuts and the outputs of the joins that tie them,
 *                in topological order
 */
public record NeuronSpace(int id, long width, List<Integer> levels, List<String> cuts) {
    public NeuronSpace {
        levels = List.copyOf(levels);
        cuts = List.copyOf(cuts);
    }

    /**
     * Whether several cuts share the space. A space of one cut (every level of a sequential
     * network) is grouped from its own fit (the projected distances of ALGORITHM.md section 3
     * step 4); a shared space from the parents' activations at all its cuts.
     */
    public boolean shared() {
        return cuts.size() > 1;
    }
}
