package org.onnxfuse.fusion.train;

import java.util.Objects;
import java.util.SplittableRandom;
import org.onnxfuse.fusion.pipeline.InvalidSettingException;

/**
 * Where training starts from the given parameters theta (ALGORITHM.md section 4): theta itself,
 * a perturbation theta <- (1 - epsilon) theta + epsilon theta_fresh, or theta_fresh, where
 * theta_fresh is drawn by each parameter's {@link Initializer} from the seeded random source.
 *
 * @param kind    which
 * @param epsilon the perturbation's weight on fresh values, in (0, 1]; 0 unless perturbing
 */
public record StartingPoint(Kind kind, double epsilon) {
    public static final StartingPoint KEEP = new StartingPoint(Kind.KEEP, 0);
    public static final StartingPoint REINITIALISE = new StartingPoint(Kind.REINITIALISE, 0);

    public enum Kind { KEEP, PERTURB, REINITIALISE }

    public StartingPoint {
        Objects.requireNonNull(kind, "kind");
        if (kind == Kind.PERTURB && !(epsilon > 0 && epsilon <= 1)) {
            throw new InvalidSettingException("perturbation (--perturb): expected a weight in (0, 1] on fresh values,"
                    + " found " + epsilon);
        }
        if (kind != Kind.PERTURB && epsilon != 0) {
            throw new IllegalArgumentException("epsilon: expected 0 for " + kind + ", found " + epsilon);
        }
    }

    public static StartingPoint perturb(double epsilon) {
        return new StartingPoint(Kind.PERTURB, epsilon);
    }

    /** The starting values for {@code initial} (not modified), in {@code layout}. */
    public float[][] apply(ParameterLayout layout, float[][] initial, SplittableRandom random) {
        float[][] start = layout.copyOf(initial);
        if (kind == Kind.KEEP) {
            return start;
        }
        for (int i = 0; i < start.length; i++) {
            float[] fresh = new float[start[i].length];
            layout.get(i).fresh().fill(fresh, random);
            if (kind == Kind.REINITIALISE) {
                start[i] = fresh;
            } else {
                for (int j = 0; j < fresh.length; j++) {
                    start[i][j] = (float) ((1 - epsilon) * start[i][j] + epsilon * fresh[j]);
                }
            }
        }
        return start;
    }

    @Override
    public String toString() {
        return kind == Kind.PERTURB ? "perturb " + epsilon : kind.name().toLowerCase(java.util.Locale.ROOT);
    }
}
