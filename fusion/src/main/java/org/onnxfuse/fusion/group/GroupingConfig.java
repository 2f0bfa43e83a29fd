package org.onnxfuse.fusion.group;

/**
 * Settings of the grouping stage that do not depend on the level.
 *
 * @param ridgeFactor the ridge is {@code ridgeFactor * trace(S_xx) / d} (ALGORITHM.md section 3.3);
 *     0 gives plain least squares when X has full column rank
 * @param seed seeds the one random generator of a grouping run (first K-means centroids)
 * @param restarts K-means restarts; the lowest cost wins
 * @param maxIterations at most this many Lloyd iterations per restart
 * @param paperExact reproduce the reference implementation where it differs from our choice
 *     (here: group ids are compacted after an empty group, see {@link KMeansGrouping}; the
 *     pipeline also solves the plain ridge then, without the parents' weights as prior, see
 *     {@link ProjectedTargets})
 * @param form the distances' form, Gram or factor, or auto ({@link GroupingForm#resolve})
 */
public record GroupingConfig(double ridgeFactor, long seed, int restarts, int maxIterations, boolean paperExact,
                             GroupingForm form) {
    public static final double DEFAULT_RIDGE_FACTOR = 1e-6;
    public static final int DEFAULT_RESTARTS = 10;
    public static final int DEFAULT_MAX_ITERATIONS = 100;

    public GroupingConfig {
        if (!(ridgeFactor >= 0) || Double.isInfinite(ridgeFactor)) {
            throw new IllegalArgumentException("ridgeFactor must be finite and >= 0, found " + ridgeFactor);
        }
        if (restarts < 1) {
            throw new IllegalArgumentException("restarts must be >= 1, found " + restarts);
        }
        if (maxIterations < 1) {
            throw new IllegalArgumentException("maxIterations must be >= 1, found " + maxIterations);
        }
        java.util.Objects.requireNonNull(form, "form");
    }

    /** As the canonical constructor, in the automatic form. */
    public GroupingConfig(double ridgeFactor, long seed, int restarts, int maxIterations, boolean paperExact) {
        this(ridgeFactor, seed, restarts, maxIterations, paperExact, GroupingForm.AUTO);
    }

    /** Ridge factor 1e-6, seed 0, 10 restarts, 100 iterations, our behaviour (not paper-exact), automatic form. */
    public static GroupingConfig defaults() {
        return new GroupingConfig(DEFAULT_RIDGE_FACTOR, 0L, DEFAULT_RESTARTS, DEFAULT_MAX_ITERATIONS, false);
    }

    public GroupingConfig withRidgeFactor(double value) {
        return new GroupingConfig(value, seed, restarts, maxIterations, paperExact, form);
    }

    public GroupingConfig withSeed(long value) {
        return new GroupingConfig(ridgeFactor, value, restarts, maxIterations, paperExact, form);
    }

    public GroupingConfig withRestarts(int value) {
        return new GroupingConfig(ridgeFactor, seed, value, maxIterations, paperExact, form);
    }

    public GroupingConfig withMaxIterations(int value) {
        return new GroupingConfig(ridgeFactor, seed, restarts, value, paperExact, form);
    }

    public GroupingConfig withPaperExact(boolean value) {
        return new GroupingConfig(ridgeFactor, seed, restarts, maxIterations, value, form);
    }

    public GroupingConfig withForm(GroupingForm value) {
        return new GroupingConfig(ridgeFactor, seed, restarts, maxIterations, paperExact, value);
    }
}
