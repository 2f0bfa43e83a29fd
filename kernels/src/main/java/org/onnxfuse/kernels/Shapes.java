package org.onnxfuse.kernels;

import java.util.List;
import java.util.Objects;

/** Argument checks shared by the backends, so both reject the same inputs with the same words. */
final class Shapes {
    private Shapes() {
    }

    /** The (m, n, k) of C = op(A) op(B) + C, after checking that the shapes fit. */
    static int[] gemm(Transpose opA, Transpose opB, DenseMatrix a, DenseMatrix b, double beta, DenseMatrix c) {
        Objects.requireNonNull(opA, "opA");
        Objects.requireNonNull(opB, "opB");
        Objects.requireNonNull(a, "a");
        Objects.requireNonNull(b, "b");
        int m = opA.rowsOf(a);
        int k = opA.colsOf(a);
        int n = opB.colsOf(b);
        if (opB.rowsOf(b) != k) {
            throw new IllegalArgumentException("gemm: op(A) is " + m + " x " + k + " so op(B) needs " + k
                    + " rows, found op(B) " + opB.rowsOf(b) + " x " + n);
        }
        if (beta != 0.0) {
            if (c == null) {
                throw new IllegalArgumentException("gemm: beta = " + beta + " needs a C matrix, found null");
            }
            if (c.rows() != m || c.cols() != n) {
                throw new IllegalArgumentException("gemm: C must be " + m + " x " + n + ", found " + c.shape());
            }
        }
        DenseMatrix.checkedSize(m, n);
        return new int[] {m, n, k};
    }

    /** Checks {@link ComputeBackend#productColumnsInto}'s arguments; returns op(A)'s rows. */
    static int productInto(Transpose opA, DenseMatrix a, DenseMatrix b, int blockColumns, double[] out) {
        int[] mnk = gemm(opA, Transpose.NO, a, b, 0.0, null);
        Objects.requireNonNull(out, "out");
        if (blockColumns < 1) {
            throw new IllegalArgumentException("productColumnsInto: expected blocks of >= 1 column, found "
                    + blockColumns);
        }
        if ((long) mnk[0] * mnk[1] > out.length) {
            throw new IllegalArgumentException("productColumnsInto: the product is " + mnk[0] + " x " + mnk[1]
                    + ", found an output of " + out.length + " values");
        }
        return mnk[0];
    }

    /** Checks (S + ridge I) W = B: S square, B with as many rows, a usable ridge, finite entries. */
    static void choleskySolve(DenseMatrix s, DenseMatrix b, double ridge) {
        Objects.requireNonNull(s, "s");
        Objects.requireNonNull(b, "b");
        if (!s.isSquare()) {
            throw new IllegalArgumentException("choleskySolve: S must be square, found " + s.shape());
        }
        if (b.rows() != s.rows()) {
            throw new IllegalArgumentException("choleskySolve: B must have " + s.rows() + " rows like S ("
                    + s.shape() + "), found " + b.shape());
        }
        if (!(ridge >= 0.0) || Double.isInfinite(ridge)) {
            throw new IllegalArgumentException("choleskySolve: ridge must be finite and >= 0, found " + ridge);
        }
        requireFinite("S", s);
        requireFinite("B", b);
    }

    /** Checks choleskySolveAll: one right-hand side and one ridge per system, each triple as choleskySolve. */
    static void choleskySolveAll(List<DenseMatrix> systems, List<DenseMatrix> rightHandSides, double[] ridges) {
        Objects.requireNonNull(systems, "systems");
        Objects.requireNonNull(rightHandSides, "rightHandSides");
        Objects.requireNonNull(ridges, "ridges");
        int count = systems.size();
        if (rightHandSides.size() != count || ridges.length != count) {
            throw new IllegalArgumentException("choleskySolveAll: " + count + " systems need " + count
                    + " right-hand sides and " + count + " ridges, found " + rightHandSides.size()
                    + " right-hand sides and " + ridges.length + " ridges");
        }
        for (int i = 0; i < count; i++) {
            if (systems.get(i) == null || rightHandSides.get(i) == null) {
                throw new IllegalArgumentException("choleskySolveAll: system " + i + " of " + count + " has a null "
                        + (systems.get(i) == null ? "S" : "B"));
            }
            try {
                choleskySolve(systems.get(i), rightHandSides.get(i), ridges[i]);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("choleskySolveAll: system " + i + " of " + count + ": "
                        + e.getMessage(), e);
            }
        }
    }

    private static void requireFinite(String name, DenseMatrix x) {
        double[] d = x.data();
        for (int k = 0; k < d.length; k++) {
            if (!Double.isFinite(d[k])) {
                throw new IllegalArgumentException("choleskySolve: " + name + " (" + x.shape() + ") has " + d[k]
                        + " at (" + (k % x.rows()) + ", " + (k / x.rows()) + "); expected finite values");
            }
        }
    }
}
