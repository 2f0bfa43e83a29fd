package org.onnxfuse.fusion.train;

import java.util.SplittableRandom;

/** How fresh values of a parameter are drawn, for re-initialisation and perturbation ({@link StartingPoint}). */
public sealed interface Initializer {

    /** Fills {@code values} with fresh draws from {@code random}. */
    void fill(float[] values, SplittableRandom random);

    /**
     * U(-1/sqrt(fanIn), 1/sqrt(fanIn)): PyTorch's default for the weights and biases of Linear and
     * Conv layers, so a re-initialised level starts where the reference's freshly built one does.
     */
    static Initializer fanIn(int fanIn) {
        if (fanIn < 1) {
            throw new IllegalArgumentException("fan-in: expected at least 1, found " + fanIn);
        }
        return new Uniform(1.0 / Math.sqrt(fanIn));
    }

    /** Every value U(-bound, bound). */
    record Uniform(double bound) implements Initializer {
        public Uniform {
            if (!(bound >= 0) || Double.isInfinite(bound)) {
                throw new IllegalArgumentException("uniform bound: expected a finite number >= 0, found " + bound);
            }
        }

        @Override
        public void fill(float[] values, SplittableRandom random) {
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) (bound * (2.0 * random.nextDouble() - 1.0));
            }
        }
    }

    /** Every value the same, such as a normalisation's scale 1 and shift 0. */
    record Constant(float value) implements Initializer {
        @Override
        public void fill(float[] values, SplittableRandom random) {
            java.util.Arrays.fill(values, value);
        }
    }
}
