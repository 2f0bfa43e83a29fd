package org.onnxfuse.fusion.baseline;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.onnxfuse.fusion.group.HeadAssignment;
import org.onnxfuse.fusion.group.LinearAssignment;
import org.onnxfuse.fusion.plan.InputLayout;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.NeuronSpace;
import org.onnxfuse.onnx.ir.Model;

/**
 * Weight matching (data-free, the weight-matching algorithm of Git Re-Basin): every parent
 * k >= 1 is permuted to parent 0 neuron space by neuron space, then the aligned weights are
 * averaged. Git Re-Basin writes a permutation spec per architecture by hand; here it comes from
 * the level plan ({@link SpaceAlignment}): which levels write a space, which read it and where,
 * which per-neuron ops act on it.
 *
 * <p>The permutation pi_S of space S maximises the summed similarity of parent 0's neuron i and
 * parent k's neuron pi_S(i): the inner products of their incoming weights over every level
 * writing S (the level's column, bias included, with parent k's input rows in parent 0's order
 * by the current permutations of the spaces the level reads; a depthwise Conv's kernel column
 * as it is), of their outgoing weights over every level reading S (the level's input rows of
 * the neuron, with parent k's columns in parent 0's order by the current permutation of the
 * level's own space; the classes are fixed), and of their per-neuron parameters (a and b of
 * y = a x + b). Each pi_S is an exact linear assignment ({@link LinearAssignment}) given the
 * others, so the total similarity never decreases (where one level both reads and writes S, as
 * in y = x + fc(x), its term is quadratic in pi_S and the current pi_S stands in for the side
 * not being solved). Like Git Re-Basin we repeat the sweeps
 * (coordinate descent) until no permutation changes, at most {@value #MAX_SWEEPS} times; unlike
 * it the spaces are visited in id order rather than in a random order, so the result is
 * deterministic without a seed. For a chain the spaces are the cuts in order; a two-level MLP
 * converges in the first sweep (its one hidden cut sees the fixed classes), the second only
 * confirms. The result is a local optimum: it depends on where the descent starts (parent k's
 * own order), unlike act-match's, which a permutation of parent k does not change.
 */
public final class WeightMatching {
    public static final String NAME = "weight-match";
    static final int MAX_SWEEPS = 50;

    private WeightMatching() {
    }

    /**
     * The template (parent 0) with every level's weights replaced by the mean of the aligned
     * parents.
     *
     * @throws org.onnxfuse.onnx.errors.IncompatibleModelsException when the parents do not share
     *     one plan or differ in width (a permutation needs equal widths; act-match handles others)
     */
    public static Model fuse(List<Model> parents) {
        return fuse(Parents.of(parents));
    }

    /** As {@link #fuse(List)} with the parents' plans, made and compared by the caller. */
    public static Model fuse(List<Model> parents, List<LevelPlan> plans) {
        return fuse(Parents.of(parents, plans));
    }

    private static Model fuse(Parents p) {
        p.requireEqualWidths("weight matching (" + NAME + ")");
        List<SpaceAlignment> alignments = new ArrayList<>();
        for (int k = 1; k < p.count(); k++) {
            alignments.add(align(p, k));
        }
        return p.write(p.alignAndAverage(alignments), NAME);
    }

    /** Permutations of parent k's movable spaces onto parent 0's. */
    static SpaceAlignment align(Parents p, int k) {
        Map<Integer, int[]> perm = new TreeMap<>();
        for (int s : p.movableSpaces()) {
            int[] identity = new int[p.spaceWidth(k, s)];
            Arrays.setAll(identity, i -> i);
            perm.put(s, identity);
        }
        for (int sweep = 0; sweep < MAX_SWEEPS; sweep++) {
            boolean changed = false;
            Set<Integer> aligned = new HashSet<>();
            for (int s : p.movableSpaces()) {
                NeuronSpace space = p.plan(0).space(s);
                if (!aligned.add(s)) {
                    continue; // matched this sweep with the space whose head order it shares
                }
                if (!space.headed()) {
                    int[] best = LinearAssignment.solve(negated(similarity(p, k, s,
                            SpaceAlignment.selection(p.plan(k), perm))));
                    changed |= !Arrays.equals(best, perm.put(s, best));
                    continue;
                }
                // attention heads move whole, in one order for the spaces that share it
                List<Integer> together = space.headOrder().stream().filter(p.movableSpaces()::contains).toList();
                aligned.addAll(together);
                List<double[][]> costs = new ArrayList<>();
                for (int t : together) {
                    costs.add(negated(similarity(p, k, t, SpaceAlignment.selection(p.plan(k), perm))));
                }
                List<int[]> best = HeadAssignment.solve(costs, space.heads());
                for (int x = 0; x < together.size(); x++) {
                    changed |= !Arrays.equals(best.get(x), perm.put(together.get(x), best.get(x)));
                }
            }
            if (!changed) {
                break;
            }
        }
        return SpaceAlignment.selection(p.plan(k), perm);
    }

    /**
     * S[i][j]: similarity of parent 0's neuron i and parent k's neuron j in space s, with parent
     * k's other spaces in parent 0's order by {@code current}.
     */
    private static double[][] similarity(Parents p, int k, int s, SpaceAlignment current) {
        LevelPlan plan = p.plan(0);
        int n = p.spaceWidth(0, s);
        double[][] score = new double[n][n];
        for (int l : plan.space(s).levels()) {
            Level writer = p.level(k, l);
            accumulate(score, p.weights(0).level(l), current.inputRows(writer, p.weights(k).level(l)));
        }
        for (Level reader : plan.levels()) {
            List<Integer> read = reader.binding().spaces();
            if (reader.depthwise() || !read.contains(s)) {
                continue;
            }
            double[][] out0 = p.weights(0).level(reader.index());
            double[][] outk = current.columns(p.level(k, reader.index()), p.weights(k).level(reader.index()));
            for (int slice = 0; slice < read.size(); slice++) {
                if (read.get(slice) == s) {
                    addOutgoing(score, out0, outk, reader, slice, p);
                }
            }
        }
        for (int op = 0; op < plan.perNeuron().size(); op++) {
            List<Integer> on = plan.perNeuron().get(op).spaces();
            double[][] ab0 = p.weights(0).perNeuron(op);
            double[][] abk = p.weights(k).perNeuron(op);
            for (int slice = 0; slice < on.size(); slice++) {
                if (on.get(slice) != s) {
                    continue;
                }
                int offset = offset(p, on, slice);
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < n; j++) {
                        for (int row = 0; row < ab0.length; row++) {
                            double product = ab0[row][offset + i] * abk[row][offset + j];
                            if (Double.isFinite(product)) { // a masked score (-inf) says nothing about the match
                                score[i][j] += product;
                            }
                        }
                    }
                }
            }
        }
        return score;
    }

    /** Adds the inner products of the input rows that neuron i (parent 0) and j (parent k) feed in {@code reader}. */
    private static void addOutgoing(double[][] score, double[][] out0, double[][] outk, Level reader, int slice,
                                    Parents p) {
        List<Integer> spaces = reader.binding().spaces();
        InputLayout layout = SpaceAlignment.inputLayout(reader);
        int n = score.length;
        int offset = offset(p, spaces, slice);
        int total = offset(p, spaces, spaces.size());
        long copies = layout.featuresPerNeuron();
        // the rows of neuron i are its copies in the reader's input; the bias row is nobody's
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double sum = 0;
                for (long c = 0; c < copies; c++) {
                    double[] a = out0[layout.feature(i, offset, total, c)];
                    double[] b = outk[layout.feature(j, offset, total, c)];
                    for (int col = 0; col < a.length; col++) {
                        sum += a[col] * b[col];
                    }
                }
                score[i][j] += sum;
            }
        }
    }

    /** Neurons of the first {@code count} of {@code spaces} (parent 0's widths; all parents have them). */
    private static int offset(Parents p, List<Integer> spaces, int count) {
        int offset = 0;
        for (int t = 0; t < count; t++) {
            offset += p.spaceWidth(0, spaces.get(t));
        }
        return offset;
    }

    /** The assignment solver minimises: maximise the similarity by minimising its negation. */
    private static double[][] negated(double[][] score) {
        double[][] cost = new double[score.length][];
        for (int i = 0; i < score.length; i++) {
            cost[i] = new double[score[i].length];
            for (int j = 0; j < cost[i].length; j++) {
                cost[i][j] = -score[i][j];
            }
        }
        return cost;
    }

    /** score[i][j] += sum over rows r of a[r][i] * b[r][j]. */
    private static void accumulate(double[][] score, double[][] a, double[][] b) {
        for (int r = 0; r < a.length; r++) {
            double[] ar = a[r];
            double[] br = b[r];
            for (int i = 0; i < ar.length; i++) {
                double x = ar[i];
                if (x == 0) {
                    continue;
                }
                double[] s = score[i];
                for (int j = 0; j < br.length; j++) {
                    s[j] += x * br[j];
                }
            }
        }
    }
}
