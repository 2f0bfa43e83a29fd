// Cholesky solves in float64, column-major (the layout of DenseMatrix and LAPACK): (S + ridge I) W = B
// with S symmetric positive definite, of which only the upper triangle is read (LAPACK dposv 'U':
// A = U^T U with U upper triangular, stored over A's upper triangle).
//
// One large system (CudaCholesky.solve on the host drives the loop over panels of NB columns):
//   chol_panel   factors the NB x NB diagonal block in one thread block (shared memory),
//   chol_trsm    solves with that block for the panel's row strip: U11^T X = A12 (the rest of the
//                factor's panel rows) or, in the substitutions, U11^T Y = B or U11 X = Y,
//   dgemm_tiled  (gemm.cu, alpha = -1, beta = 1) does the trailing and substitution updates.
// Small systems (n <= NB, one size): chol_batched, one thread block per system, factor and both
// substitutions in shared memory.
//
// A pivot that is not positive and finite stops the factorisation: the 1-based column goes to the
// info word (as LAPACK's info), which the host reads after every panel (and once for a batch).
// Entries below the diagonal of S are never read; the large path's trailing update writes
// values there that nothing reads.

#define NB 64          // panel width, and the largest order chol_batched holds
#define CHUNK 16       // right-hand-side columns per thread block in the triangular solves
#define THREADS 256    // CudaBackend.BLOCK_THREADS

typedef double Block[NB + 1];     // u[row][col], padded by one against bank conflicts
typedef double Strip[CHUNK + 1];  // x[row][col]

// u = the nb x nb upper triangle of a (leading dimension lda), plus ridge on the diagonal; the
// entries below the diagonal are set to 0 and never read.
__device__ void load_upper(Block* u, const double* a, size_t lda, int nb, double ridge)
{
    for (int e = threadIdx.x; e < nb * nb; e += THREADS) {
        const int r = e % nb;
        const int c = e / nb;
        double v = 0.0;
        if (r <= c) {
            v = a[r + c * lda];
            if (r == c) {
                v += ridge;
            }
        }
        u[r][c] = v;
    }
    __syncthreads();
}

__device__ void store_upper(double* a, size_t lda, const Block* u, int nb)
{
    for (int e = threadIdx.x; e < nb * nb; e += THREADS) {
        const int r = e % nb;
        const int c = e / nb;
        if (r <= c) {
            a[r + c * lda] = u[r][c];
        }
    }
}

// x = the nb x w block at a (leading dimension lda).
__device__ void load_strip(Strip* x, const double* a, size_t lda, int nb, int w)
{
    for (int e = threadIdx.x; e < nb * w; e += THREADS) {
        const int r = e % nb;
        const int c = e / nb;
        x[r][c] = a[r + c * lda];
    }
    __syncthreads();
}

__device__ void store_strip(double* a, size_t lda, const Strip* x, int nb, int w)
{
    for (int e = threadIdx.x; e < nb * w; e += THREADS) {
        const int r = e % nb;
        const int c = e / nb;
        a[r + c * lda] = x[r][c];
    }
}

// Factors the upper triangle in u in place, u := U with A = U^T U, one column per step (right-
// looking). Returns 0, or the 1-based column whose pivot is not positive and finite (u is then
// partly factored). Every thread of the block calls it and gets the same result.
__device__ int factor_upper(Block* u, int nb)
{
    __shared__ int failed;
    if (threadIdx.x == 0) {
        failed = 0;
    }
    __syncthreads();
    for (int c = 0; c < nb; ++c) {
        if (threadIdx.x == 0) {
            const double d = u[c][c];
            if (!(d > 0.0) || isinf(d)) {
                failed = c + 1;
            } else {
                u[c][c] = sqrt(d);
            }
        }
        __syncthreads();
        if (failed != 0) {
            return failed;    // read by all threads after the barrier; written again by nobody
        }
        const double pivot = u[c][c];
        for (int q = c + 1 + threadIdx.x; q < nb; q += THREADS) {
            u[c][q] /= pivot;                     // row c of U
        }
        __syncthreads();
        const int m = nb - c - 1;                 // the trailing m x m block, upper part
        for (int e = threadIdx.x; e < m * m; e += THREADS) {
            const int p = c + 1 + e % m;
            const int q = c + 1 + e / m;
            if (p <= q) {
                u[p][q] = fma(-u[c][p], u[c][q], u[p][q]);
            }
        }
        __syncthreads();
    }
    return 0;
}

// In place on the nb x w strip x: x := U^-T x (transposed != 0, forward substitution) or
// x := U^-1 x (backward), with U the factored upper triangle in u (only it is read).
__device__ void solve_upper(const Block* u, Strip* x, int nb, int w, int transposed)
{
    for (int step = 0; step < nb; ++step) {
        const int r = transposed ? step : nb - 1 - step;
        const double pivot = u[r][r];
        for (int c = threadIdx.x; c < w; c += THREADS) {
            x[r][c] /= pivot;
        }
        __syncthreads();
        // Forward: rows q > r lose U^T(q, r) x_r = U(r, q) x_r. Backward: rows q < r lose U(q, r) x_r.
        const int m = transposed ? nb - 1 - r : r;
        for (int e = threadIdx.x; e < m * w; e += THREADS) {
            const int i = e % m;
            const int c = e / m;
            const int q = transposed ? r + 1 + i : i;
            const double coef = transposed ? u[r][q] : u[q][r];
            x[q][c] = fma(-coef, x[r][c], x[q][c]);
        }
        __syncthreads();
    }
}

// Factors the nb x nb diagonal block of a (n x n, leading dimension n) at (j0, j0) in place, its
// earlier panels' updates already applied. Grid: one block. On a bad pivot writes *info and
// leaves the block as it was.
extern "C" __global__ void __launch_bounds__(THREADS)
chol_panel(double* a, int n, int j0, int nb, int* info)
{
    __shared__ Block u[NB];
    double* diagonal = a + j0 + (size_t) j0 * n;
    load_upper(u, diagonal, n, nb, 0.0);
    const int failed = factor_upper(u, nb);
    if (failed != 0) {
        if (threadIdx.x == 0) {
            *info = j0 + failed;
        }
        return;
    }
    store_upper(diagonal, n, u, nb);
}

// With U11 the factored nb x nb diagonal block of a at (j0, j0): rows [j0, j0 + nb) of the columns
// [col0, col0 + cols) of x (leading dimension ldx) become U11^-T X (transposed != 0) or U11^-1 X.
// Grid: ceil(cols / CHUNK) blocks, block b owning CHUNK columns from col0 + b * CHUNK. x may be a
// itself when those rows and columns do not meet U11 (the factorisation's A12).
extern "C" __global__ void __launch_bounds__(THREADS)
chol_trsm(const double* a, int n, int j0, int nb, double* x, int ldx, int col0, int cols, int transposed)
{
    __shared__ Block u[NB];
    __shared__ Strip xs[NB];
    load_upper(u, a + j0 + (size_t) j0 * n, n, nb, 0.0);
    const int c0 = col0 + blockIdx.x * CHUNK;
    const int w = min(CHUNK, col0 + cols - c0);
    double* strip = x + j0 + (size_t) c0 * ldx;
    load_strip(xs, strip, ldx, nb, w);
    solve_upper(u, xs, nb, w, transposed);
    store_strip(strip, ldx, xs, nb, w);
}

// Block s solves (S_s + ridges[s] I) W_s = B_s for the n x n system S_s at s * n * n (upper triangle
// read) and the n x k right-hand sides B_s at s * n * k, overwritten by W_s; info[s] = 0 or the
// 1-based failed column (B_s is then left as it was). 1 <= n <= NB. Grid: one block per system.
extern "C" __global__ void __launch_bounds__(THREADS)
chol_batched(const double* s, const double* ridges, double* b, int n, int k, int* info)
{
    __shared__ Block u[NB];
    __shared__ Strip xs[NB];
    const size_t system = blockIdx.x;
    load_upper(u, s + system * n * n, n, n, ridges[system]);
    const int failed = factor_upper(u, n);
    if (threadIdx.x == 0) {
        info[system] = failed;
    }
    if (failed != 0) {
        return;
    }
    double* rhs = b + system * n * k;
    for (int c0 = 0; c0 < k; c0 += CHUNK) {
        const int w = min(CHUNK, k - c0);
        load_strip(xs, rhs + (size_t) c0 * n, n, n, w);
        solve_upper(u, xs, n, w, 1);
        solve_upper(u, xs, n, w, 0);
        store_strip(rhs + (size_t) c0 * n, n, xs, n, w);
        __syncthreads();    // the next chunk overwrites xs
    }
}
