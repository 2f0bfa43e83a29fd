// General matrix product in float64: C = alpha * op(A) * op(B) + beta * C, all column-major
// (BLAS conventions: op(A) is M x K, op(B) is K x N, C is M x N; lda, ldb, ldc are leading
// dimensions). A plain shared-memory tiled kernel: the fusion pipeline's large products are the
// statistics (statistics.cu); this one serves the smaller products between solves.
// beta == 0 means C is not read (it may hold NaN), as in BLAS.

#define TILE 64
#define TILE_K 16
#define THREADS 256
#define PER_THREAD 4

extern "C" __global__ void __launch_bounds__(THREADS)
dgemm_tiled(int transA, int transB, int M, int N, int K, double alpha,
            const double* __restrict__ A, int lda, const double* __restrict__ B, int ldb,
            double beta, double* __restrict__ C, int ldc)
{
    const int i0 = blockIdx.y * TILE;
    const int j0 = blockIdx.x * TILE;
    __shared__ double as[TILE_K][TILE + 1];   // as[kk][c] = op(A)(i0 + c, k0 + kk)
    __shared__ double bs[TILE_K][TILE + 1];   // bs[kk][c] = op(B)(k0 + kk, j0 + c)

    const int tid = threadIdx.x;
    const int tx = tid % 16;
    const int ty = tid / 16;

    double acc[PER_THREAD][PER_THREAD];
#pragma unroll
    for (int r = 0; r < PER_THREAD; ++r) {
#pragma unroll
        for (int c = 0; c < PER_THREAD; ++c) {
            acc[r][c] = 0.0;
        }
    }

    for (int k0 = 0; k0 < K; k0 += TILE_K) {
        // Each load walks the stored matrix along its contiguous (leading) dimension.
#pragma unroll
        for (int l = 0; l < (TILE_K * TILE) / THREADS; ++l) {
            const int e = tid + l * THREADS;
            int kk;
            int col;
            if (!transA) {        // op(A)(i, k) = A[i + k * lda]: i contiguous
                col = e % TILE;
                kk = e / TILE;
            } else {              // op(A)(i, k) = A[k + i * lda]: k contiguous
                kk = e % TILE_K;
                col = e / TILE_K;
            }
            const int i = i0 + col;
            const int k = k0 + kk;
            double v = 0.0;
            if (i < M && k < K) {
                v = transA ? A[(size_t) k + (size_t) i * lda] : A[(size_t) i + (size_t) k * lda];
            }
            as[kk][col] = v;

            if (!transB) {        // op(B)(k, j) = B[k + j * ldb]: k contiguous
                kk = e % TILE_K;
                col = e / TILE_K;
            } else {              // op(B)(k, j) = B[j + k * ldb]: j contiguous
                col = e % TILE;
                kk = e / TILE;
            }
            const int j = j0 + col;
            const int k2 = k0 + kk;
            double w = 0.0;
            if (j < N && k2 < K) {
                w = transB ? B[(size_t) j + (size_t) k2 * ldb] : B[(size_t) k2 + (size_t) j * ldb];
            }
            bs[kk][col] = w;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < TILE_K; ++kk) {
            double a[PER_THREAD];
            double b[PER_THREAD];
#pragma unroll
            for (int r = 0; r < PER_THREAD; ++r) {
                a[r] = as[kk][tx + 16 * r];
            }
#pragma unroll
            for (int c = 0; c < PER_THREAD; ++c) {
                b[c] = bs[kk][ty + 16 * c];
            }
#pragma unroll
            for (int r = 0; r < PER_THREAD; ++r) {
#pragma unroll
                for (int c = 0; c < PER_THREAD; ++c) {
                    acc[r][c] = fma(a[r], b[c], acc[r][c]);
                }
            }
        }
        __syncthreads();
    }

#pragma unroll
    for (int c = 0; c < PER_THREAD; ++c) {
        const int j = j0 + ty + 16 * c;
#pragma unroll
        for (int r = 0; r < PER_THREAD; ++r) {
            const int i = i0 + tx + 16 * r;
            if (i < M && j < N) {
                const size_t idx = (size_t) i + (size_t) j * ldc;
                const double scaled = alpha * acc[r][c];
                C[idx] = (beta == 0.0) ? scaled : fma(beta, C[idx], scaled);
            }
        }
    }
}
