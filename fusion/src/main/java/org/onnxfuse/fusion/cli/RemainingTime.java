package org.onnxfuse.fusion.cli;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import org.onnxfuse.fusion.pipeline.LevelReport;
import org.onnxfuse.fusion.pipeline.LevelWork;

/**
 * Predicts how long the rest of a fusion takes from the sizes of the levels still to come and
 * the times the finished levels took, stage by stage. Each stage's time is modelled as a fixed
 * part plus a part that grows with one work figure of the level (multiply-adds):
 * <ul>
 *   <li>collection (inference and statistics): rows x (d m + d<sup>2</sup> + m<sup>2</sup>), the
 *       affine ops' products and the statistics' three GEMMs per row;</li>
 *   <li>grouping: m k (m + d), one K-means iteration's distance table;</li>
 *   <li>least squares: d<sup>3</sup> + d<sup>2</sup> m, the factorisation and the solve;</li>
 *   <li>the rest (writing, training, the fit error): fixed per level.</li>
 * </ul>
 * A stage's time per unit of work is the smallest seen on a finished level (the largest level
 * shows it best: on small levels the fixed part dominates), and its fixed part the mean of what
 * that leaves. One small level says little about the time per unit of a large one, so the time
 * per unit is also capped from the collection's measured rate: at most {@link #SOLVE_PASSES} passes
 * for the least squares and {@link #GROUPING_PASSES} iterations' worth for the grouping. Before a
 * level has finished, the collection rate comes from the current level's own samples and the
 * other stages are not known yet. A rate of the current bar alone would be wrong by the ratio of
 * the levels' sizes (a VGG's first level is cheap, its middle ones dear).
 */
final class RemainingTime {
    /** Factorisation, two triangular solves and the fit error, each about d<sup>2</sup>(d + m). */
    static final double SOLVE_PASSES = 4;
    /** K-means iterations over all restarts that the grouping's time per unit may stand for. */
    static final double GROUPING_PASSES = 200;

    private final List<LevelWork> levels;
    private final long samples;
    private final Map<String, List<double[]>> measured = new HashMap<>(); // stage -> {seconds, work} per level

    RemainingTime(List<LevelWork> levels, long samples) {
        this.levels = List.copyOf(levels);
        this.samples = samples;
    }

    static double collectionWork(LevelWork w, long samples) {
        double d = w.fanIn();
        double m = w.neurons();
        return (double) samples * w.rowsPerSample() * (d * m + d * d + m * m);
    }

    static double groupingWork(LevelWork w) {
        double m = w.neurons();
        return m * w.width() * (m + w.fanIn());
    }

    static double solveWork(LevelWork w) {
        double d = w.fanIn();
        return d * d * d + d * d * w.neurons();
    }

    /** Records a finished level; {@code wallSeconds} is its whole time, training and writing included. */
    void finished(LevelReport report, double wallSeconds) {
        LevelWork w = work(report.level());
        if (w == null) {
            return;
        }
        double collection = (report.inferenceMillis() + report.statisticsMillis()) / 1e3;
        double grouping = report.groupingMillis() / 1e3;
        double solve = report.solveMillis() / 1e3;
        add("collection", collection, collectionWork(w, report.samples()));
        add("grouping", grouping, groupingWork(w));
        add("solve", solve, solveWork(w));
        add("other", Math.max(0, wallSeconds - collection - grouping - solve), 0);
    }

    private void add(String stage, double seconds, double work) {
        measured.computeIfAbsent(stage, s -> new ArrayList<>()).add(new double[] {seconds, work});
    }

    /** Seconds per unit of work: the smallest on a finished level, at most {@code cap}; NaN before any. */
    private double perUnit(String stage, double cap) {
        double best = Double.NaN;
        for (double[] m : measured.getOrDefault(stage, List.of())) {
            if (m[1] > 0 && !(m[0] / m[1] >= best)) {
                best = m[0] / m[1];
            }
        }
        return Double.isNaN(best) ? cap : Math.min(best, cap);
    }

    /** The stage's mean time beyond {@code perUnit} x work on the finished levels. */
    private double fixed(String stage, double perUnit) {
        List<double[]> all = measured.getOrDefault(stage, List.of());
        double sum = 0;
        for (double[] m : all) {
            sum += Math.max(0, m[0] - (Double.isNaN(perUnit) ? 0 : perUnit * m[1]));
        }
        return all.isEmpty() ? 0 : sum / all.size();
    }

    /**
     * Seconds left while level {@code current} runs.
     *
     * @param current           the running level (1-based)
     * @param collectedFraction how much of its collection is done (1 once it groups or solves)
     * @param collectionSeconds how long its collection has run so far
     * @param stepSeconds       how long its current step after the collection has run (0 while collecting)
     * @return empty while nothing measured says how fast the machine is
     */
    OptionalDouble secondsLeft(int current, double collectedFraction, double collectionSeconds, double stepSeconds) {
        LevelWork now = work(current);
        if (now == null) {
            return OptionalDouble.empty();
        }
        double collectionRate = perUnit("collection", Double.POSITIVE_INFINITY);
        if (Double.isInfinite(collectionRate)) {
            if (collectedFraction < 0.05 || collectionSeconds <= 0) {
                return OptionalDouble.empty();
            }
            collectionRate = collectionSeconds / (collectedFraction * collectionWork(now, samples));
        }
        boolean firstLevel = !complete();
        double collectionFixed = firstLevel ? 0 : fixed("collection", collectionRate);
        double groupingRate = perUnit("grouping", GROUPING_PASSES * collectionRate);
        double solveRate = perUnit("solve", SOLVE_PASSES * collectionRate);
        double groupingFixed = fixed("grouping", groupingRate);
        double solveFixed = fixed("solve", solveRate);
        double other = fixed("other", Double.NaN);
        double left = (1 - Math.min(1, collectedFraction)) * collectionRate * collectionWork(now, samples);
        if (!firstLevel) {
            double afterCollection = groupingFixed + groupingRate * groupingWork(now) + solveFixed
                    + solveRate * solveWork(now) + other;
            left += Math.max(0, afterCollection - stepSeconds);
        }
        for (LevelWork w : levels) {
            if (w.level() <= current) {
                continue;
            }
            left += collectionRate * collectionWork(w, samples);
            if (!firstLevel) {
                left += collectionFixed + groupingFixed + groupingRate * groupingWork(w) + solveFixed
                        + solveRate * solveWork(w) + other;
            }
        }
        return OptionalDouble.of(left);
    }

    /**
     * {@link #secondsLeft} as people read it: "about 1:20 left", or "more than 1:20 left" while only
     * the collection has been measured; empty while nothing is.
     */
    Optional<String> describe(int current, double collectedFraction, double collectionSeconds, double stepSeconds) {
        OptionalDouble left = secondsLeft(current, collectedFraction, collectionSeconds, stepSeconds);
        if (left.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of((complete() ? "about " : "more than ") + ProgressDisplay.clockTime(left.getAsDouble())
                + " left");
    }

    /** Whether every stage has been measured on a finished level (before that, estimates count collection only). */
    boolean complete() {
        return measured.containsKey("grouping");
    }

    private LevelWork work(int level) {
        return level >= 1 && level <= levels.size() ? levels.get(level - 1) : null;
    }
}
