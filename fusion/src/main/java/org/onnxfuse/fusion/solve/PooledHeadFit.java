package org.onnxfuse.fusion.solve;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;

/**
 * The last level of a head whose classes pass a Relu and then an average over every position
 * before the output (SqueezeNet: Conv, Relu, GlobalAveragePool), fitted to what the output shows.
 * The per-position least squares fits each position's pre-activation to the target maps before the
 * Relu, which the pooling then averages with whatever the Relu lets through; here class c's weights
 * w minimise, over the calibration samples n,
 * <pre>
 *   L(w) = sum_n (f_n(w) - t_n)^2 + lambda ||w - w0||^2,   f_n(w) = (1/P) sum_p max(0, w . x_np)
 * </pre>
 * where x_np is sample n's input row at position p (P positions), t_n the target logit and w0 the
 * start (the per-position fit). Since the pooling is linear, f_n is piecewise linear in w:
 * Levenberg-Marquardt on it (Jacobian row (1/P) sum over the active positions of x_np), a step kept
 * only when L falls, so the result never fits worse than the start. Classes are independent
 * problems, solved as separate tasks, so the result does not depend on the thread count.
 */
public final class PooledHeadFit {
    /** Levenberg-Marquardt iterations per class at most. */
    public static final int MAX_ITERATIONS = 30;
    /** Damping tries per iteration before a class stops. */
    private static final int MAX_TRIES = 12;
    /** An accepted step that lowers L by less than this share of it ends the class. */
    private static final double RELATIVE_TOLERANCE = 1e-9;

    private final float[] rows;
    private final int samples;
    private final int positions;
    private final int features;

    /**
     * @param rows      the level's input rows, row-major [samples * positions, features], sample n's
     *                  positions at rows n P .. n P + P - 1 (a ones column included where the level
     *                  has a bias, as in its weights)
     * @param samples   N
     * @param positions P
     * @param features  d
     */
    public PooledHeadFit(float[] rows, int samples, int positions, int features) {
        Objects.requireNonNull(rows, "rows");
        if (samples < 1 || positions < 1 || features < 1
                || (long) samples * positions * features != rows.length) {
            throw new IllegalArgumentException("rows: " + rows.length + " values for " + samples + " samples x "
                    + positions + " positions x " + features + " features");
        }
        this.rows = rows;
        this.samples = samples;
        this.positions = positions;
        this.features = features;
    }

    /**
     * Multiply-adds one class costs per iteration with one damping try: two passes over the rows
     * (the pre-activations, then the active rows' sums), the normal equations and their Cholesky.
     */
    public static double workPerClassIteration(long samples, long positions, long features) {
        return 2.0 * samples * positions * features + samples * features * (features + 1) / 2.0
                + Math.pow(features, 3) / 3;
    }

    /**
     * Fits every class from {@code start}.
     *
     * @param start       d x C, column c class c's weights (the per-position fit)
     * @param targets     row-major [N, C], the target logits
     * @param ridgeFactor lambda = ridgeFactor * mean diagonal of J^T J at the start
     */
    public Result fit(ComputeBackend backend, DenseMatrix start, double[] targets, double ridgeFactor) {
        int classes = start.cols();
        if (start.rows() != features || targets.length != (long) samples * classes) {
            throw new IllegalArgumentException("start " + start.shape() + " and " + targets.length + " targets for "
                    + samples + " samples of " + features + " features");
        }
        double[] solved = new double[features * classes];
        ClassFit[] fits = new ClassFit[classes];
        List<Runnable> tasks = new ArrayList<>(classes);
        for (int c = 0; c < classes; c++) {
            int cls = c;
            tasks.add(() -> {
                double[] t = new double[samples];
                for (int n = 0; n < samples; n++) {
                    t[n] = targets[n * classes + cls];
                }
                fits[cls] = fitClass(start.column(cls), t, ridgeFactor);
                System.arraycopy(fits[cls].weights, 0, solved, cls * features, features);
            });
        }
        backend.runTasks(tasks);
        double before = 0;
        double after = 0;
        double power = 0;
        int iterations = 0;
        for (ClassFit f : fits) {
            before += f.startLoss;
            after += f.loss;
            iterations = Math.max(iterations, f.iterations);
        }
        for (double t : targets) {
            power += t * t;
        }
        return new Result(new DenseMatrix(features, classes, solved), before, after, power, iterations);
    }

    /**
     * The fitted weights (d x C), the summed squared logit errors at the start and at the end (the
     * ridge term left out), the targets' summed squares, and the most iterations a class took.
     */
    public record Result(DenseMatrix weights, double startLoss, double loss, double targetPower, int iterations) {
        /** sqrt(loss / targetPower): the relative RMS error of the fitted logits; 0 for zero targets fitted exactly. */
        public double relativeError() {
            return targetPower > 0 ? Math.sqrt(loss / targetPower) : loss == 0 ? 0 : Double.POSITIVE_INFINITY;
        }
    }

    private record ClassFit(double[] weights, double startLoss, double loss, int iterations) {
    }

    private ClassFit fitClass(double[] w0, double[] t, double ridgeFactor) {
        int d = features;
        double[] w = w0.clone();
        double[] f = new double[samples];
        double[] jacobian = new double[samples * d];
        pooled(w, f, jacobian);
        double startLoss = squaredError(f, t);
        double[] normal = new double[d * d];
        normalMatrix(jacobian, normal);
        double meanDiagonal = 0;
        for (int i = 0; i < d; i++) {
            meanDiagonal += normal[i * d + i];
        }
        meanDiagonal /= d;
        if (meanDiagonal == 0) {
            return new ClassFit(w, startLoss, startLoss, 0); // no position is active anywhere: no gradient
        }
        double lambda = ridgeFactor * meanDiagonal;
        double loss = startLoss;
        double objective = loss;
        double damping = 1e-3;
        int iterations = 0;
        double[] gradient = new double[d];
        double[] trial = new double[d];
        double[] trialF = new double[samples];
        double[] trialJacobian = new double[samples * d];
        while (iterations < MAX_ITERATIONS) {
            iterations++;
            // half the gradient of the objective: J^T r + lambda (w - w0)
            java.util.Arrays.fill(gradient, 0);
            for (int n = 0; n < samples; n++) {
                double r = f[n] - t[n];
                int row = n * d;
                for (int i = 0; i < d; i++) {
                    gradient[i] += jacobian[row + i] * r;
                }
            }
            for (int i = 0; i < d; i++) {
                gradient[i] += lambda * (w[i] - w0[i]);
            }
            boolean accepted = false;
            for (int tries = 0; tries < MAX_TRIES && !accepted; tries++) {
                double[] step = dampedStep(normal, gradient, lambda + damping * meanDiagonal);
                if (step == null) {
                    damping *= 4;
                    continue;
                }
                for (int i = 0; i < d; i++) {
                    trial[i] = w[i] - step[i];
                }
                pooled(trial, trialF, trialJacobian);
                double trialLoss = squaredError(trialF, t);
                double trialObjective = trialLoss + lambda * squaredDistance(trial, w0);
                if (trialObjective < objective) {
                    double gain = objective - trialObjective;
                    System.arraycopy(trial, 0, w, 0, d);
                    System.arraycopy(trialF, 0, f, 0, samples);
                    System.arraycopy(trialJacobian, 0, jacobian, 0, jacobian.length);
                    loss = trialLoss;
                    objective = trialObjective;
                    damping = Math.max(damping / 3, 1e-9);
                    accepted = true;
                    if (gain <= RELATIVE_TOLERANCE * objective) {
                        return new ClassFit(w, startLoss, loss, iterations);
                    }
                } else {
                    damping *= 4;
                }
            }
            if (!accepted) {
                break;
            }
            normalMatrix(jacobian, normal);
        }
        return new ClassFit(w, startLoss, loss, iterations);
    }

    /** f_n = (1/P) sum_p max(0, w . x_np) and the Jacobian rows (1/P) sum over the active p of x_np. */
    private void pooled(double[] w, double[] f, double[] jacobian) {
        int d = features;
        java.util.Arrays.fill(jacobian, 0);
        double scale = 1.0 / positions;
        for (int n = 0; n < samples; n++) {
            double sum = 0;
            int out = n * d;
            for (int p = 0; p < positions; p++) {
                int row = (n * positions + p) * d;
                double z = 0;
                for (int i = 0; i < d; i++) {
                    z += w[i] * rows[row + i];
                }
                if (z > 0) {
                    sum += z;
                    for (int i = 0; i < d; i++) {
                        jacobian[out + i] += rows[row + i];
                    }
                }
            }
            f[n] = sum * scale;
            for (int i = 0; i < d; i++) {
                jacobian[out + i] *= scale;
            }
        }
    }

    /** J^T J (d x d, row-major, full). */
    private void normalMatrix(double[] jacobian, double[] out) {
        int d = features;
        java.util.Arrays.fill(out, 0);
        for (int n = 0; n < samples; n++) {
            int row = n * d;
            for (int i = 0; i < d; i++) {
                double ji = jacobian[row + i];
                if (ji == 0) {
                    continue;
                }
                int at = i * d;
                for (int j = i; j < d; j++) {
                    out[at + j] += ji * jacobian[row + j];
                }
            }
        }
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < i; j++) {
                out[i * d + j] = out[j * d + i];
            }
        }
    }

    /** (J^T J + shift I)^-1 g by Cholesky; null when not positive definite in float64. */
    private double[] dampedStep(double[] normal, double[] g, double shift) {
        int d = features;
        double[] l = new double[d * d];
        for (int i = 0; i < d; i++) {
            for (int j = 0; j <= i; j++) {
                double s = normal[i * d + j] + (i == j ? shift : 0);
                for (int k = 0; k < j; k++) {
                    s -= l[i * d + k] * l[j * d + k];
                }
                if (i == j) {
                    if (!(s > 0)) {
                        return null;
                    }
                    l[i * d + i] = Math.sqrt(s);
                } else {
                    l[i * d + j] = s / l[j * d + j];
                }
            }
        }
        double[] y = new double[d];
        for (int i = 0; i < d; i++) {
            double s = g[i];
            for (int k = 0; k < i; k++) {
                s -= l[i * d + k] * y[k];
            }
            y[i] = s / l[i * d + i];
        }
        for (int i = d - 1; i >= 0; i--) {
            double s = y[i];
            for (int k = i + 1; k < d; k++) {
                s -= l[k * d + i] * y[k];
            }
            y[i] = s / l[i * d + i];
        }
        return y;
    }

    private static double squaredError(double[] f, double[] t) {
        double s = 0;
        for (int n = 0; n < f.length; n++) {
            double r = f[n] - t[n];
            s += r * r;
        }
        return s;
    }

    private static double squaredDistance(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            double r = a[i] - b[i];
            s += r * r;
        }
        return s;
    }
}
