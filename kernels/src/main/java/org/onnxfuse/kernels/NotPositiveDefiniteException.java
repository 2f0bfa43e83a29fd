package org.onnxfuse.kernels;

/**
 * A Cholesky factorisation met a matrix that is not (numerically) positive definite, typically
 * a Gram matrix of linearly dependent or constant features with too small a ridge.
 */
public class NotPositiveDefiniteException extends BackendException {
    private final int order;
    private final int failedMinor;
    private final double ridge;
    private final int system;

    public NotPositiveDefiniteException(int order, int failedMinor, double ridge) {
        this("", order, failedMinor, ridge, -1);
    }

    private NotPositiveDefiniteException(String where, int order, int failedMinor, double ridge, int system) {
        super(where + "the " + order + " x " + order + " matrix (+ ridge " + ridge + " on the diagonal) is not positive"
                + " definite: its leading minor of order " + failedMinor + " is not positive; expected"
                + " a Gram matrix of linearly independent features. Increase the ridge, or check the"
                + " data for constant, duplicate or too few samples (rows < features)");
        this.order = order;
        this.failedMinor = failedMinor;
        this.ridge = ridge;
        this.system = system;
    }

    /** The same failure as system {@code index} (0-based) of {@code count} solved together. */
    public NotPositiveDefiniteException inSystem(int index, int count) {
        return new NotPositiveDefiniteException("system " + index + " of " + count + ": ", order, failedMinor, ridge,
                index);
    }

    /** The size n of the n x n matrix. */
    public int order() {
        return order;
    }

    /** The order of the first leading minor found not positive (1-based, as LAPACK reports it). */
    public int failedMinor() {
        return failedMinor;
    }

    /** The index of the failed system in a batch ({@link ComputeBackend#choleskySolveAll}), or -1. */
    public int system() {
        return system;
    }
}
