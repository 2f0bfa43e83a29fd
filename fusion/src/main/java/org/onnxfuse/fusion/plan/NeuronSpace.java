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
 * @param heads   1, or the number of attention heads the neurons split into (each head's
 *                neurons consecutive): such a space is grouped whole head by whole head, and its
 *                fused width is the parents'
 * @param headsShared the other spaces whose heads must stay in this space's head order: an
 *                attention's query/key space and its value space (head h's weights, from query
 *                and key head h, average value head h), ascending
 */
public record NeuronSpace(int id, long width, List<Integer> levels, List<String> cuts, int heads,
                          List<Integer> headsShared) {
    public NeuronSpace {
        levels = List.copyOf(levels);
        cuts = List.copyOf(cuts);
        headsShared = List.copyOf(headsShared);
        if (heads < 1 || width % heads != 0) {
            throw new IllegalArgumentException("space " + id + " of " + width + " neurons cannot split into " + heads
                    + " heads");
        }
    }

    /** A space without heads. */
    public NeuronSpace(int id, long width, List<Integer> levels, List<String> cuts) {
        this(id, width, levels, cuts, 1, List.of());
    }

    /** This space and the spaces sharing its head order ({@link #headsShared}), this one first. */
    public List<Integer> headOrder() {
        List<Integer> out = new java.util.ArrayList<>(List.of(id));
        out.addAll(headsShared);
        return out;
    }

    /** Whether the space's neurons are attention heads' (grouped whole head by whole head). */
    public boolean headed() {
        return heads > 1;
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
