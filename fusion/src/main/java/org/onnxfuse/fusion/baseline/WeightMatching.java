package org.onnxfuse.fusion.baseline;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.onnxfuse.fusion.group.LinearAssignment;
import org.onnxfuse.fusion.plan.InputLayout;
import org.onnxfuse.onnx.ir.Model;

/**
 * Weight matching (data-free, the weight-matching algorithm of Git Re-Basin): every parent
 * k >= 1 is permuted to parent 0 cut by cut, then the aligned weights are averaged.
 *
 * <p>The permutation pi_l of cut l maximises the similarity of parent 0's neuron i and parent
 * k's neuron pi_l(i), the sum of two inner products: of their incoming weights (the level's
 * column, bias included, with parent k's input rows already in parent 0's order at cut l - 1)
 * and of their outgoing weights (the next level's input rows of the neuron, with parent k's
 * next-level columns in parent 0's order at cut l + 1; the classes of the last level are fixed).
 * Each pi_l is an exact linear assignment ({@link LinearAssignment}) given its neighbours, so the
 * total similarity never decreases. Like Git Re-Basin we repeat the sweeps (coordinate
 * descent) until no permutation changes, at most {@value #MAX_SWEEPS} times; unlike it the cuts
 * are visited in order 1..L-1 rather than in a random order, so the result is deterministic
 * without a seed. A two-level MLP converges in the first sweep (its one hidden cut sees the
 * fixed classes), the second only confirms.
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
        Parents p = Parents.of(parents);
        p.requireEqualWidths("weight matching (" + NAME + ")");
        List<List<NeuronMap>> maps = new ArrayList<>();
        for (int k = 1; k < p.count(); k++) {
            maps.add(align(p, k));
        }
        return p.write(p.alignAndAverage(maps), NAME);
    }

    /** Permutations of parent k's cuts 1..L-1 onto parent 0's. */
    static List<NeuronMap> align(Parents p, int k) {
        int hidden = p.levels() - 1;
        int[][] perm = new int[hidden][];
        for (int l = 1; l <= hidden; l++) {
            perm[l - 1] = new int[p.width(k, l)];
            Arrays.setAll(perm[l - 1], i -> i);
        }
        for (int sweep = 0; sweep < MAX_SWEEPS; sweep++) {
            boolean changed = false;
            for (int l = 1; l <= hidden; l++) {
                int[] best = LinearAssignment.solve(negated(similarity(p, k, l, perm)));
                if (!Arrays.equals(best, perm[l - 1])) {
                    perm[l - 1] = best;
                    changed = true;
                }
            }
            if (!changed) {
                break;
            }
        }
        List<NeuronMap> maps = new ArrayList<>();
        for (int l = 1; l <= hidden; l++) {
            maps.add(NeuronMap.permutation(perm[l - 1], p.width(k, l)));
        }
        return maps;
    }

    /** S[i][j]: similarity of parent 0's neuron i and parent k's neuron j at cut l. */
    private static double[][] similarity(Parents p, int k, int l, int[][] perm) {
        int n = p.width(0, l);
        double[][] score = new double[n][n];
        double[][] in0 = p.weights(0, l);
        double[][] ink = p.weights(k, l);
        if (l > 1) {
            ink = NeuronMap.permutation(perm[l - 2], p.width(k, l - 1)).mapInputRows(ink, p.level(k, l).hasBias(),
                    p.layout(k, l));
        }
        accumulate(score, in0, ink);
        double[][] out0 = p.weights(0, l + 1);
        double[][] outk = p.weights(k, l + 1);
        if (l + 1 < p.levels()) {
            outk = NeuronMap.permutation(perm[l], p.width(k, l + 1)).mapColumns(outk);
        }
        InputLayout layout = p.layout(0, l + 1);
        long copies = layout.featuresPerNeuron();
        // the rows of neuron i are its copies in the next level's input; the bias row is nobody's
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (long c = 0; c < copies; c++) {
                    double[] a = out0[layout.feature(i, n, c)];
                    double[] b = outk[layout.feature(j, n, c)];
                    for (int col = 0; col < a.length; col++) {
                        s += a[col] * b[col];
                    }
                }
                score[i][j] += s;
            }
        }
        return score;
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
