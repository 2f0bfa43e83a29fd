package org.onnxfuse.fusion.solve;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.stream.Collectors;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.NotPositiveDefiniteException;

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
 * problems; each one's arithmetic is the same whatever the thread count.
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
     * Multiply-adds one class costs per iteration with one damping try: a pass over the rows (the
     * pre-activations and the active rows' sums), the normal equations and their Cholesky.
     */
    public static double workPerClassIteration(long samples, long positions, long features) {
        return 2.0 * samples * positions * features + samples * features * (features + 1) / 2.0
                + Math.pow(features, 3) / 3;
    }

    /**
     * Fits every class from {@code start}. The classes advance in lockstep, {@link #CLASS_BLOCK} at
     * a time: their passes over the rows as tasks on the backend's threads, each round's damped
     * solves as one {@link ComputeBackend#choleskySolveAll} call.
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
        double before = 0;
        double after = 0;
        int iterations = 0;
        for (int first = 0; first < classes; first += CLASS_BLOCK) {
            List<ClassFit> block = new ArrayList<>();
            for (int c = first; c < Math.min(classes, first + CLASS_BLOCK); c++) {
                double[] t = new double[samples];
                for (int n = 0; n < samples; n++) {
                    t[n] = targets[n * classes + c];
                }
                block.add(new ClassFit(start.column(c), t, ridgeFactor));
            }
            fitBlock(backend, block);
            for (int i = 0; i < block.size(); i++) {
                ClassFit f = block.get(i);
                System.arraycopy(f.w, 0, solved, (first + i) * features, features);
                before += f.startLoss;
                after += f.loss;
                iterations = Math.max(iterations, f.iterations);
            }
        }
        double power = 0;
        for (double t : targets) {
            power += t * t;
        }
        return new Result(new DenseMatrix(features, classes, solved), before, after, power, iterations);
    }

    /** Classes fitted in lockstep at most: their normal matrices are held together (C d^2 values). */
    static final int CLASS_BLOCK = 64;

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

    /** One class's Levenberg-Marquardt state: its weights, their loss, normal matrix and gradient. */
    private final class ClassFit {
        final double[] w0;
        final double[] t;
        final double[] w;
        double[] normal;
        double[] gradient;
        final double startLoss;
        double loss;
        double objective;
        final double meanDiagonal;
        final double lambda;
        double damping = 1e-3;
        int iterations;
        boolean done;
        // the damping try of the current iteration
        double[] trial;
        Pass trialPass;

        ClassFit(double[] w0, double[] t, double ridgeFactor) {
            this.w0 = w0;
            this.t = t;
            this.w = w0.clone();
            Pass p = pass(w, t);
            normal = p.normal;
            gradient = p.gradient;
            startLoss = p.loss;
            loss = p.loss;
            objective = p.loss;
            double diagonal = 0;
            for (int i = 0; i < features; i++) {
                diagonal += normal[i * features + i];
            }
            meanDiagonal = diagonal / features;
            lambda = ridgeFactor * meanDiagonal;
            done = meanDiagonal == 0; // no position is active anywhere: no gradient
        }

        /** Half the objective's gradient at w: J^T r + lambda (w - w0). */
        DenseMatrix objectiveGradient() {
            double[] g = new double[features];
            for (int i = 0; i < features; i++) {
                g[i] = gradient[i] + lambda * (w[i] - w0[i]);
            }
            return new DenseMatrix(features, 1, g);
        }
    }

    /** A pass over the rows at some weights: the loss, J^T J (d x d, full) and J^T r, r = f - t. */
    private record Pass(double loss, double[] normal, double[] gradient) {
    }

    /** Levenberg-Marquardt on every class of {@code block}, in lockstep; see the class comment for the rule. */
    private void fitBlock(ComputeBackend backend, List<ClassFit> block) {
        for (int iteration = 0; iteration < MAX_ITERATIONS; iteration++) {
            List<ClassFit> pending = block.stream().filter(f -> !f.done).collect(Collectors.toList());
            if (pending.isEmpty()) {
                return;
            }
            List<DenseMatrix> gradients = pending.stream().map(ClassFit::objectiveGradient).toList();
            pending.forEach(f -> f.iterations++);
            for (int tries = 0; tries < MAX_TRIES && !pending.isEmpty(); tries++) {
                List<DenseMatrix> steps = dampedSteps(backend, pending, gradients);
                List<Runnable> tasks = new ArrayList<>();
                for (int i = 0; i < pending.size(); i++) {
                    ClassFit f = pending.get(i);
                    double[] step = steps.get(i).toColumnMajor();
                    tasks.add(() -> {
                        f.trial = new double[features];
                        for (int j = 0; j < features; j++) {
                            f.trial[j] = f.w[j] - step[j];
                        }
                        f.trialPass = pass(f.trial, f.t);
                    });
                }
                backend.runTasks(tasks);
                List<ClassFit> rejected = new ArrayList<>();
                List<DenseMatrix> rejectedGradients = new ArrayList<>();
                for (int i = 0; i < pending.size(); i++) {
                    ClassFit f = pending.get(i);
                    double trialObjective = f.trialPass.loss + f.lambda * squaredDistance(f.trial, f.w0);
                    if (trialObjective < f.objective) {
                        double gain = f.objective - trialObjective;
                        System.arraycopy(f.trial, 0, f.w, 0, features);
                        f.loss = f.trialPass.loss;
                        f.normal = f.trialPass.normal;
                        f.gradient = f.trialPass.gradient;
                        f.objective = trialObjective;
                        f.damping = Math.max(f.damping / 3, 1e-9);
                        f.done = gain <= RELATIVE_TOLERANCE * trialObjective;
                    } else {
                        f.damping *= 4;
                        rejected.add(f);
                        rejectedGradients.add(gradients.get(i));
                    }
                    f.trial = null;
                    f.trialPass = null;
                }
                pending = rejected;
                gradients = rejectedGradients;
            }
            pending.forEach(f -> f.done = true); // no damping lowered its objective
        }
    }

    /**
     * (J^T J + (lambda + damping * mean diagonal) I)^-1 g for each class, in one batch; a system
     * that is not positive definite in float64 gets a 4 times larger damping and the batch is solved again.
     */
    private List<DenseMatrix> dampedSteps(ComputeBackend backend, List<ClassFit> fits, List<DenseMatrix> gradients) {
        List<DenseMatrix> systems = fits.stream().map(f -> new DenseMatrix(features, features, f.normal)).toList();
        while (true) {
            double[] shifts = fits.stream().mapToDouble(f -> f.lambda + f.damping * f.meanDiagonal).toArray();
            try {
                return backend.choleskySolveAll(systems, gradients, shifts);
            } catch (NotPositiveDefiniteException e) {
                fits.get(e.system()).damping *= 4;
            }
        }
    }

    /**
     * One pass over the rows at weights {@code w}: per sample f_n = (1/P) sum_p max(0, w . x_np)
     * and its Jacobian row J_n = (1/P) sum over the active p of x_np, summed into the loss
     * sum_n (f_n - t_n)^2, J^T J and J^T r.
     */
    private Pass pass(double[] w, double[] t) {
        int d = features;
        double[] normal = new double[d * d];
        double[] gradient = new double[d];
        double[] jn = new double[d];
        double loss = 0;
        double scale = 1.0 / positions;
        for (int n = 0; n < samples; n++) {
            java.util.Arrays.fill(jn, 0);
            double sum = 0;
            for (int p = 0; p < positions; p++) {
                int row = (n * positions + p) * d;
                double z = 0;
                for (int i = 0; i < d; i++) {
                    z += w[i] * rows[row + i];
                }
                if (z > 0) {
                    sum += z;
                    for (int i = 0; i < d; i++) {
                        jn[i] += rows[row + i];
                    }
                }
            }
            double r = sum * scale - t[n];
            loss += r * r;
            for (int i = 0; i < d; i++) {
                double ji = jn[i] * scale;
                if (ji == 0) {
                    continue;
                }
                gradient[i] += ji * r;
                int at = i * d;
                for (int j = i; j < d; j++) {
                    normal[at + j] += ji * (jn[j] * scale);
                }
            }
        }
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < i; j++) {
                normal[i * d + j] = normal[j * d + i];
            }
        }
        return new Pass(loss, normal, gradient);
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
