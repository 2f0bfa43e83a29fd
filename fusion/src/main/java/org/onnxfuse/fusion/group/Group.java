package org.onnxfuse.fusion.group;

import java.util.Arrays;

/**
 * One fused neuron: the parent neurons it merges and their weights in the centroid
 * w_g = sum_i weights[i] * w_{members[i]} (the non-zero entries of u_g, summing to 1).
 *
 * @param members neuron indices among the level's m columns, ascending
 * @param weights u_g restricted to {@code members}, same order
 * @param cost sum over members of s_i * ||X w_g - a_i||, with the scores the method used
 */
public record Group(int[] members, double[] weights, double cost) {
    public Group {
        if (members == null || weights == null || members.length != weights.length || members.length == 0) {
            throw new IllegalArgumentException("a group needs at least one member and one weight per member, found "
                    + (members == null ? "null" : members.length) + " members and "
                    + (weights == null ? "null" : weights.length) + " weights");
        }
        members = members.clone();
        weights = weights.clone();
    }

    @Override
    public int[] members() {
        return members.clone();
    }

    @Override
    public double[] weights() {
        return weights.clone();
    }

    public int size() {
        return members.length;
    }

    public int member(int index) {
        return members[index];
    }

    public double weight(int index) {
        return weights[index];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Group g && Arrays.equals(g.members, members) && Arrays.equals(g.weights, weights)
                && Double.compare(g.cost, cost) == 0;
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Arrays.hashCode(members) + Arrays.hashCode(weights)) + Double.hashCode(cost);
    }

    @Override
    public String toString() {
        return "Group" + Arrays.toString(members) + " u=" + Arrays.toString(weights) + " cost=" + cost;
    }
}
