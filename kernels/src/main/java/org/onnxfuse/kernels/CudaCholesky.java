package org.onnxfuse.kernels;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * The device Cholesky solves of {@link CudaBackend} (kernels in cholesky.cu). Callers hold the
 * backend's lock, have made its context current and have checked the arguments with {@link Shapes}.
 *
 * <p>One system: a blocked right-looking factorisation A = U<sup>T</sup>U over panels of
 * {@link #PANEL} columns (chol_panel factors the diagonal block, chol_trsm the rest of the panel's
 * rows, dgemm_tiled updates the trailing matrix), then the forward and backward substitutions by
 * panels in the same way, all in place on one copy of S (+ ridge, added on the host as the CPU
 * backend adds it) and one of B. The info word is read after every panel, so a failed pivot stops
 * the work there. Many small systems: chol_batched, one thread block per system.
 */
final class CudaCholesky {
    /** Panel width; also the largest order the batched kernel holds (NB in cholesky.cu). */
    static final int PANEL = 64;
    /** Right-hand-side columns per thread block in chol_trsm (CHUNK in cholesky.cu). */
    static final int CHUNK = 16;
    /** Bound on the doubles of S (and of B) per chol_batched launch: 256 MiB each. */
    static final int BATCH_ELEMENTS = 1 << 25;

    private CudaCholesky() {
    }

    /** (S + ridge I) W = B for n, k >= 1. */
    static DenseMatrix solve(CudaBackend backend, DenseMatrix s, DenseMatrix b, double ridge) {
        int n = s.rows();
        int k = b.cols();
        double[] factor = s.toColumnMajor();
        for (int i = 0; i < n; i++) {
            factor[i + i * n] += ridge;
        }
        double[] solution = new double[n * k];
        Arrays.fill(solution, Double.NaN);   // a short copy back would show, not pass as zeros
        try (DeviceBuffer a = DeviceBuffer.upload(factor);
             DeviceBuffer x = DeviceBuffer.upload(b.toColumnMajor());
             DeviceBuffer info = new DeviceBuffer(4)) {
            info.zero();
            int[] failed = new int[1];
            for (int j0 = 0; j0 < n; j0 += PANEL) {
                int nb = Math.min(PANEL, n - j0);
                int j1 = j0 + nb;
                backend.launch(backend.cholPanelKernel, 1, 1, 1, Pointer.to(Pointer.to(a.pointer()),
                        Pointer.to(new int[] {n}), Pointer.to(new int[] {j0}), Pointer.to(new int[] {nb}),
                        Pointer.to(info.pointer())));
                info.copyTo(failed);
                if (failed[0] != 0) {
                    throw new NotPositiveDefiniteException(n, failed[0], ridge);
                }
                if (j1 < n) {
                    // A12 := U11^-T A12, then A22 -= U12^T U12 (the whole square; its lower part is never read).
                    trsm(backend, a, n, j0, nb, a, j1, n - j1, true);
                    update(backend, true, n - j1, n - j1, nb, at(a, j0, j1, n), n, at(a, j0, j1, n), n,
                            at(a, j1, j1, n), n);
                }
            }
            for (int j0 = 0; j0 < n; j0 += PANEL) {          // U^T Y = B
                int nb = Math.min(PANEL, n - j0);
                int j1 = j0 + nb;
                trsm(backend, a, n, j0, nb, x, 0, k, true);
                if (j1 < n) {                                   // Y2 -= U12^T Y1
                    update(backend, true, n - j1, k, nb, at(a, j0, j1, n), n, at(x, j0, 0, n), n, at(x, j1, 0, n), n);
                }
            }
            for (int j0 = (n - 1) / PANEL * PANEL; j0 >= 0; j0 -= PANEL) {   // U X = Y
                int nb = Math.min(PANEL, n - j0);
                trsm(backend, a, n, j0, nb, x, 0, k, false);
                if (j0 > 0) {                                   // X0 -= U01 X1
                    update(backend, false, j0, k, nb, at(a, 0, j0, n), n, at(x, j0, 0, n), n, x.pointer(), n);
                }
            }
            x.copyTo(solution);
        } catch (CudaException e) {
            throw backend.failure("cholesky " + n + " x " + k, e);
        }
        return DenseMatrix.wrap(n, k, solution);
    }

    /**
     * Every system at once: all n x n with 1 <= n <= PANEL, all right-hand sides n x k with k >= 1.
     *
     * @throws NotPositiveDefiniteException for the first failed system, with its index
     */
    static List<DenseMatrix> solveBatched(CudaBackend backend, List<DenseMatrix> systems,
                                          List<DenseMatrix> rightHandSides, double[] ridges) {
        int count = systems.size();
        int n = systems.get(0).rows();
        int k = rightHandSides.get(0).cols();
        List<DenseMatrix> solutions = new ArrayList<>(count);
        int perLaunch = Math.max(1, BATCH_ELEMENTS / (n * Math.max(n, k)));
        for (int first = 0; first < count; first += perLaunch) {
            int batch = Math.min(perLaunch, count - first);
            double[] s = new double[batch * n * n];
            double[] b = new double[batch * n * k];
            for (int i = 0; i < batch; i++) {
                System.arraycopy(systems.get(first + i).data(), 0, s, i * n * n, n * n);
                System.arraycopy(rightHandSides.get(first + i).data(), 0, b, i * n * k, n * k);
            }
            int[] failed = new int[batch];
            try (DeviceBuffer ds = DeviceBuffer.upload(s);
                 DeviceBuffer dr = DeviceBuffer.upload(Arrays.copyOfRange(ridges, first, first + batch));
                 DeviceBuffer db = DeviceBuffer.upload(b);
                 DeviceBuffer info = new DeviceBuffer(4L * batch)) {
                backend.launch(backend.cholBatchedKernel, batch, 1, 1, Pointer.to(Pointer.to(ds.pointer()),
                        Pointer.to(dr.pointer()), Pointer.to(db.pointer()), Pointer.to(new int[] {n}),
                        Pointer.to(new int[] {k}), Pointer.to(info.pointer())));
                info.copyTo(failed);
                db.copyTo(b);
            } catch (CudaException e) {
                throw backend.failure("cholesky batch of " + batch + " systems " + n + " x " + k, e);
            }
            for (int i = 0; i < batch; i++) {
                if (failed[i] != 0) {
                    throw new NotPositiveDefiniteException(n, failed[i], ridges[first + i]).inSystem(first + i, count);
                }
                double[] w = new double[n * k];
                System.arraycopy(b, i * n * k, w, 0, n * k);
                solutions.add(DenseMatrix.wrap(n, k, w));
            }
        }
        return solutions;
    }

    /** Rows [j0, j0 + nb) of the columns [col0, col0 + cols) of x := U11^-T X (transposed) or U11^-1 X. */
    private static void trsm(CudaBackend backend, DeviceBuffer a, int n, int j0, int nb, DeviceBuffer x, int col0,
                             int cols, boolean transposed) {
        backend.launch(backend.cholTrsmKernel, CudaBackend.ceilDiv(cols, CHUNK), 1, 1, Pointer.to(
                Pointer.to(a.pointer()), Pointer.to(new int[] {n}), Pointer.to(new int[] {j0}),
                Pointer.to(new int[] {nb}), Pointer.to(x.pointer()), Pointer.to(new int[] {n}),
                Pointer.to(new int[] {col0}), Pointer.to(new int[] {cols}),
                Pointer.to(new int[] {transposed ? 1 : 0})));
    }

    /** C -= op(A) B with dgemm_tiled (op(A) = A^T when transposeA), C m x cols. */
    private static void update(CudaBackend backend, boolean transposeA, int m, int cols, int inner, CUdeviceptr a,
                               int lda, CUdeviceptr b, int ldb, CUdeviceptr c, int ldc) {
        backend.launch(backend.gemmKernel, CudaBackend.ceilDiv(cols, SlicePlan.TILE), CudaBackend.ceilDiv(m,
                SlicePlan.TILE), 1, Pointer.to(
                Pointer.to(new int[] {transposeA ? 1 : 0}), Pointer.to(new int[] {0}), Pointer.to(new int[] {m}),
                Pointer.to(new int[] {cols}), Pointer.to(new int[] {inner}), Pointer.to(new double[] {-1.0}),
                Pointer.to(a), Pointer.to(new int[] {lda}), Pointer.to(b), Pointer.to(new int[] {ldb}),
                Pointer.to(new double[] {1.0}), Pointer.to(c), Pointer.to(new int[] {ldc})));
    }

    /** The device address of element (i, j) of the column-major matrix in m with leading dimension ld. */
    private static CUdeviceptr at(DeviceBuffer m, int i, int j, int ld) {
        return m.pointer().withByteOffset(8L * (i + (long) j * ld));
    }
}
