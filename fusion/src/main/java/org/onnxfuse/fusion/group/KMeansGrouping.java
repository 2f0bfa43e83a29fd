package org.onnxfuse.fusion.group;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.GramKMeans;
import org.onnxfuse.kernels.SufficientStatistics;

/**
 * KF grouping (ALGORITHM.md section 3.4): importance-weighted K-means of all parents' neurons into
 * k groups, where the distance of neuron i to group g is ||X w_g - a_i|| (projected centroid vs raw
 * target), the centroid is w_g = W u_g with u_g = the members' normalised importances, and the cost
 * is sum_i s_i ||X w_{group(i)} - a_i|| (unsquared), with s normalised per parent
 * ({@link ImportanceScores#normalisedPerParent}).
 *
 * <p>Per restart: farthest-first initialisation (the first centroid a random neuron of parent 0,
 * each next one the neuron farthest from its nearest centroid, where a centroid seeded from neuron j
 * has u = e_j), then Lloyd iterations (assign each neuron to its nearest centroid, refill empty
 * groups, recompute the weighted means) until the assignment is stable, the cost has improved by
 * less than 5% over the last 3 iterations, or {@link GroupingConfig#maxIterations()} is reached.
 * The restart with the lowest cost wins (the earliest on ties).
 *
 * <p><b>Which cost goes down.</b> Assigning to the nearest centroid lowers both the unsquared
 * cost and the squared objective sum_i s_i dist<sup>2</sup>. The weighted mean, however, minimises
 * the squared objective, not the unsquared one (whose minimiser would be a weighted geometric
 * median), so the unsquared cost may rise after a centroid step. Hence the squared objective never
 * increases over iterations (up to rounding and an O(lambda) ridge effect, since the ridge
 * solution of the mean target is what we write back), while for the unsquared cost we keep the best
 * assignment seen: the returned cost is the minimum of {@link Grouping#costHistory()}, never above
 * any earlier iterate. Empty-group repair keeps the squared objective from rising too: the moved
 * neuron's new distance is its own residual, the smallest it can have.
 *
 * <p><b>Ties.</b> A neuron only leaves its current group for a strictly nearer one; among equally
 * near new groups the lowest id wins. Without the first rule identical neurons (e.g. a neuron and
 * its exact twin in another parent) could swap groups forever.
 *
 * <p><b>Empty groups</b> take the neuron with the largest s_i * dist_i among neurons whose group
 * keeps at least one other member. We keep group ids fixed: the empty group g is refilled as g.
 * With {@link GroupingConfig#paperExact()} we follow the reference implementation, which compacts
 * the group ids first: the non-empty groups are renumbered 0..k'-1 in their old order and the
 * refilled groups get ids k'..k-1. The same neurons move either way, so the partition is the same;
 * what differs is the order of the fused neurons and hence which group wins a distance tie later.
 *
 * <p>A fit in factor form ({@link ProjectedTargets#factorForm()}) runs the same iterations on
 * {@link FactorKMeans}: O(m k d) per iteration and no m x m matrix, or O(m<sup>2</sup>) in the cross
 * form that keeps C alone. What follows is the Gram form.
 *
 * <p>Work per iteration: O(m<sup>2</sup> + sum_g |g|<sup>2</sup>), using that every neuron is in one
 * group (so C U adds each neuron's column of C to its group's column; a dense gemm would be
 * O(m<sup>2</sup> k)). That part (farthest-first, the distance table, the nearest groups) runs on
 * the backend's {@link GramKMeans}, opened once per call and shared by the restarts: on CUDA, C,
 * G and the m x k table stay on the device and an iteration moves O(m) values; every backend gives
 * bit-identical results, so the grouping does not depend on the backend. The restarts advance in
 * lockstep, as many together as the backend's K-means asks for ({@link GramKMeans#restartBatch}:
 * one at a time on the CPU and in the factor form, a batch per launch on CUDA): one call seeds
 * them all, one call per round steps those still running, and a restart that has stopped is not
 * stepped again. Each restart's steps are the ones it takes alone, and the winner is chosen in
 * restart order, so the result is the same bits for any batch width. Every random choice comes from one
 * {@link SplittableRandom} seeded with {@link GroupingConfig#seed()}: same inputs and seed, same
 * result.
 */
public final class KMeansGrouping {
    /**
     * Benchmark switches, read per call: {@code -Donnxfuse.kmeans.bounds=false} makes the factor
     * form compute every distance (no Hamerly bounds); {@code -Donnxfuse.kmeans.counts=true}
     * prints, per factor-form grouping, how many neuron-to-centroid distances were computed and
     * skipped to standard error (bench/README.md, Hamerly bounds).
     */
    static final String BOUNDS_PROPERTY = "onnxfuse.kmeans.bounds";
    static final String COUNTS_PROPERTY = "onnxfuse.kmeans.counts";

    /** Stop when the cost improved by less than this fraction... */
    static final double EARLY_STOP_IMPROVEMENT = 0.05;
    /** ...over this many iterations. */
    static final int EARLY_STOP_WINDOW = 3;

    private KMeansGrouping() {
    }

    /**
     * Fits the level's least squares ({@link ProjectedTargets#fit}) in the config's form (auto:
     * {@link GroupingForm#resolve} with this JVM's maximum heap) and groups its neurons.
     */
    public static Grouping group(ComputeBackend backend, SufficientStatistics stats, NeuronLayout layout,
                                 double[] scores, int targetWidth, GroupingConfig config) {
        layout.requireNeurons(stats.targetDim(), "the statistics");
        GroupingForm form = config.form().resolve(stats.targetDim(), stats.inputDim(), targetWidth,
                Runtime.getRuntime().maxMemory());
        return group(backend, ProjectedTargets.fit(backend, stats, config.ridgeFactor(), null, form), layout, scores,
                targetWidth, config);
    }

    /**
     * Groups the m neurons of {@code fit} into {@code targetWidth} groups.
     *
     * @param scores raw importance scores, one per neuron (> 0); normalised per parent here
     * @param targetWidth k, between 1 and m
     */
    public static Grouping group(ComputeBackend backend, ProjectedTargets fit, NeuronLayout layout, double[] scores,
                                 int targetWidth, GroupingConfig config) {
        return group(backend, fit, layout, scores, targetWidth, config,
                !"false".equals(System.getProperty(BOUNDS_PROPERTY)));
    }

    /**
     * As {@link #group(ComputeBackend, ProjectedTargets, NeuronLayout, double[], int, GroupingConfig)};
     * {@code bounds} chooses whether the factor form skips distances by Hamerly bounds (the same
     * assignments either way, see {@link FactorKMeans}).
     */
    static Grouping group(ComputeBackend backend, ProjectedTargets fit, NeuronLayout layout, double[] scores,
                          int targetWidth, GroupingConfig config, boolean bounds) {
        return group(backend, fit, layout, scores, targetWidth, config, bounds, 0);
    }

    /**
     * As above, advancing {@code restartBatch} restarts together in the Gram form (tests force it;
     * 0: as many as the backend's K-means asks for, {@link GramKMeans#restartBatch}). The factor and
     * cross forms step one restart at a time whatever is asked: their steps depend on their last.
     */
    static Grouping group(ComputeBackend backend, ProjectedTargets fit, NeuronLayout layout, double[] scores,
                          int targetWidth, GroupingConfig config, boolean bounds, int restartBatch) {
        Objects.requireNonNull(backend, "backend");
        Objects.requireNonNull(config, "config");
        layout.requireNeurons(fit.neurons(), "the least-squares fit");
        int m = fit.neurons();
        if (targetWidth < 1 || targetWidth > m) {
            throw new IllegalArgumentException("target width must be between 1 and the " + m
                    + " neurons of all parents, found " + targetWidth);
        }
        double[] s = ImportanceScores.normalisedPerParent(layout, scores);

        RandomGenerator random = new SplittableRandom(config.seed());
        int[] firstCentroids = shuffledRange(layout.width(0), random);
        // After the first centroid the initialisation is deterministic, so restarts beyond the
        // number of distinct first centroids would repeat earlier ones.
        int restarts = Math.min(config.restarts(), firstCentroids.length);
        Restart winner = null;
        // One m x k distance table, inside the backend's k-means (on the device for CUDA); a
        // restart keeps only its best assignment's own distances (m values)
        try (GramKMeans kMeans = fit.factorForm() ? new FactorKMeans(backend, fit, bounds)
                : backend.openGramKMeans(fit.crossColumns(), fit.gramColumns(), fit.targetSquaredNorms(), m)) {
            int width = restartBatch > 0 && !fit.factorForm() ? restartBatch : kMeans.restartBatch(targetWidth);
            width = Math.max(1, Math.min(restarts, width));
            for (int from = 0; from < restarts; from += width) {
                // restarts from .. to - 1 in lockstep; the winner is chosen in restart order, as
                // the restarts' sequential loop chose it
                int to = Math.min(restarts, from + width);
                int[][] seeds = kMeans.farthestFirst(Arrays.copyOfRange(firstCentroids, from, to), targetWidth);
                List<Restart> batch = new ArrayList<>(to - from);
                for (int r = from; r < to; r++) {
                    batch.add(new Restart(r, backend, fit, s, targetWidth, config, seeds[r - from]));
                }
                runInLockstep(kMeans, batch, targetWidth);
                for (Restart run : batch) {
                    if (winner == null || run.bestCost < winner.bestCost) {
                        winner = run;
                    }
                }
            }
            if (kMeans instanceof FactorKMeans factor && Boolean.getBoolean(COUNTS_PROPERTY)) {
                long computed = factor.distancesComputed();
                long skipped = factor.distancesSkipped();
                System.err.printf(java.util.Locale.ROOT, "%s k-means: m %d, k %d, %d restarts, bounds %s: %d"
                        + " distances computed, %d skipped (%.1f %%)%n", factor.crossForm() ? "cross" : "factor", m,
                        targetWidth, restarts, factor.bounded(), computed, skipped,
                        100.0 * skipped / Math.max(1, computed + skipped));
            }
        }
        return winner.toGrouping(restarts);
    }

    /**
     * Steps the restarts together until each has stopped: one {@link GramKMeans#steps} call per
     * round for the restarts still running, each restart's step the one it would have taken alone.
     */
    private static void runInLockstep(GramKMeans kMeans, List<Restart> batch, int k) {
        List<Restart> running = new ArrayList<>(batch);
        while (!running.isEmpty()) {
            int count = running.size();
            int[] ids = new int[count];
            int[][] owners = new int[count][];
            double[][] weights = new double[count][];
            int[][] currents = new int[count][];
            for (int b = 0; b < count; b++) {
                Restart run = running.get(b);
                ids[b] = run.id;
                owners[b] = run.owner;
                weights[b] = run.weight;
                currents[b] = run.current;
            }
            GramKMeans.Step[] steps = kMeans.steps(k, ids, owners, weights, currents);
            for (int b = 0; b < count; b++) {
                running.get(b).take(steps[b]);
            }
            running.removeIf(Restart::stopped);
        }
    }

    /** 0..n-1 in a random order (Fisher-Yates). */
    private static int[] shuffledRange(int n, RandomGenerator random) {
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return order;
    }

    /**
     * Refills every empty group with the neuron of largest {@code s[i] * distance[i]} whose group has
     * another member (lowest index on ties), in ascending group order; with {@code compactIds}
     * (paper-exact) the non-empty groups are first renumbered 0..k'-1 and the refilled ones get
     * k'..k-1.
     *
     * @param assignment group id per neuron, changed in place
     * @param distance each neuron's distance to its current group's centroid
     * @return the number of groups refilled
     */
    static int repairEmptyGroups(int[] assignment, int k, double[] s, double[] distance, boolean compactIds) {
        int[] counts = new int[k];
        for (int g : assignment) {
            counts[g]++;
        }
        List<Integer> empty = new ArrayList<>();
        for (int g = 0; g < k; g++) {
            if (counts[g] == 0) {
                empty.add(g);
            }
        }
        if (empty.isEmpty()) {
            return 0;
        }
        if (compactIds) {
            int[] newId = new int[k];
            int next = 0;
            for (int g = 0; g < k; g++) {
                newId[g] = counts[g] > 0 ? next++ : -1;
            }
            for (int i = 0; i < assignment.length; i++) {
                assignment[i] = newId[assignment[i]];
            }
            Arrays.fill(counts, 0);
            for (int g : assignment) {
                counts[g]++;
            }
            empty.clear();
            for (int g = next; g < k; g++) {
                empty.add(g);
            }
        }
        for (int g : empty) {
            int pick = -1;
            double pickScore = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < assignment.length; i++) {
                if (counts[assignment[i]] > 1) {
                    double score = s[i] * distance[i];
                    if (pick < 0 || score > pickScore) {
                        pick = i;
                        pickScore = score;
                    }
                }
            }
            if (pick < 0) {
                throw new IllegalStateException("cannot refill empty group " + g + ": no group has two members ("
                        + assignment.length + " neurons, " + k + " groups)");
            }
            counts[assignment[pick]]--;
            assignment[pick] = g;
            counts[g] = 1;
        }
        return empty.size();
    }

    /**
     * One seeded K-means run, advanced one step at a time by its caller: it names the step it needs
     * next ({@link #owner}, {@link #weight}, {@link #current}), {@link #take}s the result and names
     * the next, until it has {@link #stopped}. Keeps the best assignment it has seen.
     */
    private static final class Restart {
        private final int id;
        private final ComputeBackend backend;
        private final ProjectedTargets fit;
        private final double[] s;
        private final int m;
        private final int k;
        private final GroupingConfig config;

        private final List<Double> costs = new ArrayList<>();
        private final List<Double> squaredCosts = new ArrayList<>();
        private int iterations;
        private int repairs;
        private double bestCost = Double.POSITIVE_INFINITY;
        private int[] bestAssignment;
        /** Each neuron's squared distance to its own group under {@link #bestAssignment}. */
        private double[] bestOwnSquaredDistances;

        /** The step asked for next: centroids (owner, weight) and each neuron's current group (null: none). */
        private int[] owner;
        private double[] weight;
        private int[] current;
        /** -1 before the seeds' step, else the Lloyd iteration asked for next. */
        private int iteration = -1;
        /** The current assignment: the owners and current groups of the step asked for next. */
        private int[] assignment;
        private final double[] ownDistance;
        private boolean stopped;

        /** Restart {@code id}, starting from the farthest-first {@code seeds}: its first step assigns to them. */
        Restart(int id, ComputeBackend backend, ProjectedTargets fit, double[] s, int k, GroupingConfig config,
                int[] seeds) {
            this.id = id;
            this.backend = backend;
            this.fit = fit;
            this.s = s;
            this.m = fit.neurons();
            this.k = k;
            this.config = config;
            this.ownDistance = new double[m];
            owner = new int[m];
            Arrays.fill(owner, -1);
            weight = new double[m];
            for (int g = 0; g < k; g++) {
                owner[seeds[g]] = g;
                weight[seeds[g]] = 1.0;
            }
            current = null;
        }

        boolean stopped() {
            return stopped;
        }

        /**
         * Takes the step it asked for: the seeds' assignment, or Lloyd iteration {@link #iteration}
         * (its cost; stop when the assignment is stable, the cost is 0 or improved too little), then
         * asks for the next iteration's step unless the iterations are used up.
         */
        void take(GramKMeans.Step taken) {
            if (iteration < 0) {
                assignment = taken.next();
            } else {
                double[] own = taken.currentSquaredDistance();
                double cost = total(groupCosts(assignment, own));
                double squared = 0.0;
                for (int i = 0; i < m; i++) {
                    squared += s[i] * own[i];
                }
                costs.add(cost);
                squaredCosts.add(squared);
                iterations = iteration + 1;
                if (cost < bestCost) {
                    bestCost = cost;
                    bestAssignment = assignment.clone();
                    bestOwnSquaredDistances = own;
                }
                int[] next = taken.next();
                if (Arrays.equals(next, assignment) || cost == 0.0 || improvedTooLittle()) {
                    stop();
                    return;
                }
                assignment = next;
            }
            iteration++;
            if (iteration >= config.maxIterations()) {
                stop();
                return;
            }
            // the distances to the groups just chosen, from the centroids they were chosen by
            double[] nearest = taken.nextSquaredDistance();
            for (int i = 0; i < m; i++) {
                ownDistance[i] = Math.sqrt(nearest[i]);
            }
            repairs += repairEmptyGroups(assignment, k, s, ownDistance, config.paperExact());
            owner = assignment;
            weight = memberWeights(assignment);
            current = assignment;
        }

        private void stop() {
            stopped = true;
            owner = null;
            weight = null;
            current = null;
            assignment = null;
        }

        /** Whether the cost improved by less than 5% over the last 3 iterations. */
        private boolean improvedTooLittle() {
            int t = costs.size() - 1;
            if (t < EARLY_STOP_WINDOW) {
                return false;
            }
            double before = costs.get(t - EARLY_STOP_WINDOW);
            return before - costs.get(t) < EARLY_STOP_IMPROVEMENT * before;
        }

        /** Each neuron's weight in its group's centroid: s_i / (sum of s over its group). */
        private double[] memberWeights(int[] assignment) {
            double[] groupScore = new double[k];
            for (int i = 0; i < m; i++) {
                groupScore[assignment[i]] += s[i];
            }
            double[] u = new double[m];
            for (int i = 0; i < m; i++) {
                u[i] = s[i] / groupScore[assignment[i]];
            }
            return u;
        }

        /** Per group, sum s_i dist_i over its members, given each neuron's squared distance to its own group. */
        private double[] groupCosts(int[] assignment, double[] ownSquaredDistances) {
            double[] cost = new double[k];
            for (int i = 0; i < m; i++) {
                cost[assignment[i]] += s[i] * Math.sqrt(ownSquaredDistances[i]);
            }
            return cost;
        }

        Grouping toGrouping(int restartsRun) {
            double[] groupCost = groupCosts(bestAssignment, bestOwnSquaredDistances);
            int[] sizes = new int[k];
            double[] groupScore = new double[k];
            for (int i = 0; i < m; i++) {
                sizes[bestAssignment[i]]++;
                groupScore[bestAssignment[i]] += s[i];
            }
            int[][] members = new int[k][];
            double[][] weights = new double[k][];
            for (int g = 0; g < k; g++) {
                members[g] = new int[sizes[g]];
                weights[g] = new double[sizes[g]];
            }
            int[] filled = new int[k];
            for (int i = 0; i < m; i++) {
                int g = bestAssignment[i];
                members[g][filled[g]] = i;
                weights[g][filled[g]] = s[i] / groupScore[g];
                filled[g]++;
            }
            List<Group> groups = new ArrayList<>(k);
            for (int g = 0; g < k; g++) {
                groups.add(new Group(members[g], weights[g], groupCost[g]));
            }
            DenseMatrix fused = fit.centroidWeights(backend, Grouping.memberWeightMatrix(m, groups));
            return new Grouping(GroupingMethod.KMEANS, bestAssignment, groups, fused, total(groupCost),
                    toArray(costs), toArray(squaredCosts), iterations, restartsRun, repairs);
        }
    }

    private static double total(double[] values) {
        double sum = 0.0;
        for (double v : values) {
            sum += v;
        }
        return sum;
    }

    private static double[] toArray(List<Double> values) {
        double[] out = new double[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = values.get(i);
        }
        return out;
    }
}
