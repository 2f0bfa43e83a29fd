package org.onnxfuse.kernels;

import java.util.HashSet;
import java.util.Set;

/** The argument checks of every {@link GramKMeans} (shared, so that all backends report alike). */
final class GramKMeansArguments {
    private GramKMeansArguments() {
    }

    static void inputs(double[] cross, double[] gram, double[] targetSquaredNorms, int m) {
        if (m < 1) {
            throw new IllegalArgumentException("K-means needs m >= 1 neurons, found " + m);
        }
        long mm = (long) m * m;
        if (cross.length != mm || gram.length != mm || targetSquaredNorms.length != m) {
            throw new IllegalArgumentException("expected C and G of " + m + " x " + m + " (" + mm
                    + " values) and " + m + " target norms, found " + cross.length + ", " + gram.length + " and "
                    + targetSquaredNorms.length);
        }
    }

    static void farthestFirst(int m, int first, int k) {
        if (first < 0 || first >= m || k < 1 || k > m) {
            throw new IllegalArgumentException("farthest-first needs 0 <= first < m and 1 <= k <= m = " + m
                    + ", found first = " + first + ", k = " + k);
        }
    }

    static void groups(int m, int k) {
        if (k < 1 || k > m) {
            throw new IllegalArgumentException("expected 1 <= k <= m = " + m + ", found k = " + k);
        }
    }

    static void farthestFirst(int m, int[] firsts, int k) {
        for (int first : firsts) {
            farthestFirst(m, first, k);
        }
    }

    /** A batch of steps: one id, owner, weight and current (null allowed) per restart, distinct ids. */
    static void steps(int m, int k, int[] restarts, int[][] owners, double[][] weights, int[][] currents) {
        int count = restarts.length;
        if (owners.length != count || weights.length != count || currents.length != count) {
            throw new IllegalArgumentException("expected one owner, weight and current array per restart (" + count
                    + "), found " + owners.length + ", " + weights.length + " and " + currents.length);
        }
        Set<Integer> seen = new HashSet<>();
        for (int b = 0; b < count; b++) {
            if (!seen.add(restarts[b])) {
                throw new IllegalArgumentException("restart id " + restarts[b] + " appears twice in one batch");
            }
            try {
                step(m, k, owners[b], weights[b], currents[b]);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("restart " + restarts[b] + ": " + e.getMessage(), e);
            }
        }
        if (count == 0) {
            groups(m, k);
        }
    }

    static void step(int m, int k, int[] owner, double[] weight, int[] current) {
        groups(m, k);
        if (owner.length != m || weight.length != m || (current != null && current.length != m)) {
            throw new IllegalArgumentException("expected owner, weight and current of length m = " + m
                    + ", found " + owner.length + ", " + weight.length + " and "
                    + (current == null ? "null" : String.valueOf(current.length)));
        }
        for (int i = 0; i < m; i++) {
            if (owner[i] < -1 || owner[i] >= k || (current != null && (current[i] < 0 || current[i] >= k))) {
                throw new IllegalArgumentException("neuron " + i + ": owner " + owner[i] + ", current "
                        + (current == null ? "none" : String.valueOf(current[i])) + " out of range for k = " + k);
            }
        }
    }
}
