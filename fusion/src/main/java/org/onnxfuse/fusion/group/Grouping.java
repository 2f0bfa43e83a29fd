package org.onnxfuse.fusion.group;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.onnxfuse.kernels.DenseMatrix;

/**
 * The result of grouping one level: fused neuron g merges the parent neurons of {@code groups.get(g)}.
 *
 * @param method the algorithm that produced it
 * @param assignment for each of the m parent neurons, the fused neuron (group id) it went to, or
 *     {@link #UNASSIGNED} for a neuron that no fused neuron uses (HF: the extra neurons of a wider
 *     parent 1)
 * @param groups the k groups in fused-neuron order, with their member weights u_g and costs
 * @param fusedWeights W U (d x k): column g is fused neuron g's weights (last row the bias when X
 *     had a ones column)
 * @param cost the sum of the groups' costs: sum_i s_i ||X w_{group(i)} - a_i|| over assigned neurons
 * @param costHistory K-means: the cost after each Lloyd iteration of the winning restart (may go up
 *     between iterations, see {@link KMeansGrouping}); empty for non-iterative methods
 * @param squaredCostHistory K-means: sum_i s_i ||X w_{group(i)} - a_i||<sup>2</sup> after each
 *     iteration, the objective Lloyd's steps minimise; empty for non-iterative methods
 * @param iterations Lloyd iterations of the winning restart (0 for non-iterative methods)
 * @param restarts restarts run (0 for non-iterative methods)
 * @param emptyGroupRepairs how often an empty group was refilled in the winning restart
 */
public record Grouping(GroupingMethod method, int[] assignment, List<Group> groups, DenseMatrix fusedWeights,
                       double cost, double[] costHistory, double[] squaredCostHistory, int iterations, int restarts,
                       int emptyGroupRepairs) {
    public static final int UNASSIGNED = -1;

    public Grouping {
        Objects.requireNonNull(method, "method");
        Objects.requireNonNull(fusedWeights, "fusedWeights");
        assignment = Objects.requireNonNull(assignment, "assignment").clone();
        groups = List.copyOf(groups);
        costHistory = Objects.requireNonNull(costHistory, "costHistory").clone();
        squaredCostHistory = Objects.requireNonNull(squaredCostHistory, "squaredCostHistory").clone();
        if (fusedWeights.cols() != groups.size()) {
            throw new IllegalArgumentException("expected fused weights with one column per group (" + groups.size()
                    + "), found " + fusedWeights.shape());
        }
        for (int g = 0; g < groups.size(); g++) {
            for (int member : groups.get(g).members()) {
                if (member < 0 || member >= assignment.length || assignment[member] != g) {
                    throw new IllegalArgumentException("group " + g + " lists neuron " + member
                            + " but the assignment does not put it there");
                }
            }
        }
    }

    /** k: the number of fused neurons. */
    public int width() {
        return groups.size();
    }

    /** m: the number of parent neurons. */
    public int neurons() {
        return assignment.length;
    }

    public Group group(int g) {
        return groups.get(g);
    }

    /** The group of parent neuron {@code neuron}, or {@link #UNASSIGNED}. */
    public int groupOf(int neuron) {
        return assignment[neuron];
    }

    /**
     * This grouping with its fused weights dropped (a 0 x k matrix in their place): what a neuron
     * space keeps once its level is written. Later levels read only the assignment and the groups,
     * and a level's d x k weights in float64 held for every level grew the heap by twice the fused
     * model (a 2 GB model: 4.3 GB).
     */
    public Grouping withoutWeights() {
        if (fusedWeights.rows() == 0) {
            return this;
        }
        return new Grouping(method, assignment, groups, DenseMatrix.zeros(0, groups.size()), cost, costHistory,
                squaredCostHistory, iterations, restarts, emptyGroupRepairs);
    }

    /** U (m x k): column g is u_g, the member weights of group g. */
    public DenseMatrix memberWeights() {
        return memberWeightMatrix(assignment.length, groups);
    }

    static DenseMatrix memberWeightMatrix(int neurons, List<Group> groups) {
        double[] u = new double[neurons * groups.size()];
        for (int g = 0; g < groups.size(); g++) {
            Group group = groups.get(g);
            for (int a = 0; a < group.size(); a++) {
                u[group.member(a) + g * neurons] = group.weight(a);
            }
        }
        return DenseMatrix.handedOver(neurons, groups.size(), u);
    }

    @Override
    public int[] assignment() {
        return assignment.clone();
    }

    @Override
    public double[] costHistory() {
        return costHistory.clone();
    }

    @Override
    public double[] squaredCostHistory() {
        return squaredCostHistory.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Grouping g && g.method == method && Arrays.equals(g.assignment, assignment)
                && g.groups.equals(groups) && g.fusedWeights.equals(fusedWeights) && Double.compare(g.cost, cost) == 0
                && Arrays.equals(g.costHistory, costHistory) && Arrays.equals(g.squaredCostHistory, squaredCostHistory)
                && g.iterations == iterations && g.restarts == restarts && g.emptyGroupRepairs == emptyGroupRepairs;
    }

    @Override
    public int hashCode() {
        return Objects.hash(method, Arrays.hashCode(assignment), groups, fusedWeights, cost,
                Arrays.hashCode(costHistory), Arrays.hashCode(squaredCostHistory), iterations, restarts,
                emptyGroupRepairs);
    }

    @Override
    public String toString() {
        return "Grouping[" + method + ", " + neurons() + " neurons -> " + width() + " groups, cost " + cost
                + ", iterations " + iterations + ", restarts " + restarts + ", repairs " + emptyGroupRepairs + "]";
    }
}
