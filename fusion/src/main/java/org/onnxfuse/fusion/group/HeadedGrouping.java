package org.onnxfuse.fusion.group;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;

/**
 * Grouping of a space whose neurons are attention heads (ALGORITHM.md section 3, "Neuron
 * spaces", attention): the scores contract a query head with the key head of the same index, and
 * the output projection reads each value head's dims, so fusion may permute whole heads and the
 * dims within a head, never mix two heads. Every parent has the same width and the fused space
 * keeps it.
 *
 * <p>Each fused neuron has exactly one member per parent. Starting from parent 0's neurons as the
 * centroids, every parent is aligned to them: for each (centroid head, parent head) pair an optimal
 * matching of their dims on s_i ||c - a_i||<sup>2</sup> gives the pair's cost, and an optimal
 * matching of the heads on those costs picks the parent's heads; the centroids become the
 * importance-weighted means of their members, and the alignment repeats until it no longer
 * changes (at most {@link #MAX_ITERATIONS} rounds). With two parents and a second parent that is a
 * consistently permuted copy of the first the alignment recovers the permutation exactly.
 *
 * <p>Spaces whose heads share one order (an attention's query/key and value spaces) are grouped
 * together: the head matching adds their pair costs up, and every space applies the same head
 * permutation with its own matching of dims.
 *
 * <p>Cost per round: K H<sup>2</sup> matchings of d x d (d = width / H) plus the K d<sup>2</sup>
 * H<sup>2</sup> distances, each O(K<sup>2</sup>) from the Gram terms of {@link ProjectedTargets}.
 */
public final class HeadedGrouping {
    static final int MAX_ITERATIONS = 20;

    private HeadedGrouping() {
    }

    /**
     * @param scores importance scores, one per neuron (> 0)
     * @param heads  heads per parent; every parent's width must be a multiple
     */
    public static Grouping group(ComputeBackend backend, ProjectedTargets fit, NeuronLayout layout, double[] scores,
                                 int heads) {
        return group(backend, List.of(fit), List.of(layout), List.of(scores), heads).get(0);
    }

    /**
     * Groups several spaces whose heads share one order (an attention's query/key space and its
     * value space): the head matching adds up the spaces' costs, the dims are matched within each
     * space. One grouping per space, in the order given.
     */
    public static List<Grouping> group(ComputeBackend backend, List<ProjectedTargets> fits, List<NeuronLayout> layouts,
                                       List<double[]> scores, int heads) {
        Objects.requireNonNull(backend, "backend");
        int spaces = fits.size();
        int parents = layouts.get(0).parents();
        double[][] s = new double[spaces][];

        for (int x = 0; x < spaces; x++) {
            NeuronLayout layout = layouts.get(x);
            layout.requireNeurons(fits.get(x).neurons(), "the statistics");
            int width = layout.width(0);
            for (int k = 1; k < layout.parents(); k++) {
                if (layout.width(k) != width) {
                    throw new IllegalArgumentException("parents of an attention space need one width (whole heads"
                            + " are matched); found " + Arrays.toString(layout.widths()));
                }
            }
            if (layout.parents() != parents) {
                throw new IllegalArgumentException("spaces sharing a head order need the same parents");
            }
            if (heads < 1 || width % heads != 0) {
                throw new IllegalArgumentException(width + " neurons cannot split into " + heads + " heads");
            }
            s[x] = ImportanceScores.validated(layout, scores.get(x));
        }
        // member[x][f][k]: the neuron of parent k in fused neuron f of space x
        int[][][] member = new int[spaces][][];
        for (int x = 0; x < spaces; x++) {
            member[x] = new int[layouts.get(x).width(0)][parents];
            for (int f = 0; f < member[x].length; f++) {
                member[x][f][0] = f;
            }
        }
        int iterations = 0;
        List<Double> history = new ArrayList<>();
        boolean changed = true;
        boolean first = true;
        while (changed && iterations < MAX_ITERATIONS) {
            changed = false;
            iterations++;
            int[][][] next = new int[spaces][][];
            for (int x = 0; x < spaces; x++) {
                next[x] = new int[member[x].length][parents];
            }
            for (int k = 0; k < parents; k++) {
                int used = first ? 1 : parents;
                List<double[][]> costs = new ArrayList<>();
                for (int x = 0; x < spaces; x++) {
                    costs.add(distances(fits.get(x), s[x], member[x], used, layouts.get(x).offset(k)));
                }
                List<int[]> aligned = HeadAssignment.solve(costs, heads);
                for (int x = 0; x < spaces; x++) {
                    int offset = layouts.get(x).offset(k);
                    for (int f = 0; f < member[x].length; f++) {
                        next[x][f][k] = offset + aligned.get(x)[f];
                        if (first && k > 0 || next[x][f][k] != member[x][f][k]) {
                            changed = true;
                        }
                    }
                }
            }
            member = next;
            first = false;
            double total = 0;
            for (int x = 0; x < spaces; x++) {
                for (int[] m : member[x]) {
                    total += group(fits.get(x), s[x], m).cost();
                }
            }
            history.add(total);
        }
        double[] costs = history.stream().mapToDouble(Double::doubleValue).toArray();
        List<Grouping> out = new ArrayList<>();
        for (int x = 0; x < spaces; x++) {
            int[] assignment = new int[layouts.get(x).neurons()];
            List<Group> groups = new ArrayList<>();
            double cost = 0;
            for (int f = 0; f < member[x].length; f++) {
                Group g = group(fits.get(x), s[x], member[x][f]);
                for (int i : g.members()) {
                    assignment[i] = f;
                }
                groups.add(g);
                cost += g.cost();
            }
            DenseMatrix fused = fits.get(x).centroidWeights(backend,
                    Grouping.memberWeightMatrix(assignment.length, groups));
            out.add(new Grouping(GroupingMethod.HEADS, assignment, groups, fused, cost, costs, new double[0],
                    iterations, 1, 0));
        }
        return out;
    }

    /**
     * s_j ||c_f - a_j||<sup>2</sup> for every centroid f and neuron j of the parent whose neurons
     * start at {@code offset}; the centroids are the weighted means of the first {@code used}
     * members of each fused neuron.
     */
    private static double[][] distances(ProjectedTargets fit, double[] s, int[][] member, int used, int offset) {
        int width = member.length;
        double[][] distance = new double[width][width];
        for (int f = 0; f < width; f++) {
            int[] members = Arrays.copyOf(member[f], used);
            double[] weights = weights(s, members);
            for (int j = 0; j < width; j++) {
                distance[f][j] = s[offset + j] * fit.squaredDistance(members, weights, offset + j);
            }
        }
        return distance;
    }

    private static double[] weights(double[] s, int[] members) {
        double sum = 0;
        for (int i : members) {
            sum += s[i];
        }
        double[] w = new double[members.length];
        for (int a = 0; a < members.length; a++) {
            w[a] = s[members[a]] / sum;
        }
        return w;
    }

    /** The group of one fused neuron: its members ascending, weights s_i / sum s, cost sum s_i ||c - a_i||. */
    private static Group group(ProjectedTargets fit, double[] s, int[] members) {
        int[] sorted = members.clone();
        Arrays.sort(sorted);
        double[] w = weights(s, sorted);
        double cost = 0;
        for (int i : sorted) {
            cost += s[i] * fit.distance(sorted, w, i);
        }
        return new Group(sorted, w, cost);
    }
}
