// Sufficient statistics for least squares (docs/ALGORITHM.md section 3): C += X^T Y over a batch
// of samples, with X (rows x d) and Y (rows x m) as ONNX Runtime hands them over: row-major
// float32. Products of two float32 values are exact in float64, so accumulating in float64 leaves
// only the summation's rounding, the same as the CPU backend (which widens first, then calls BLAS).
//
// Output matrices are column-major float64 with leading dimension d (the layout of the Java
// DenseMatrix and of LAPACK), so C(i, j) = C[i + j * d].
//
// Determinism: every output element is owned by one thread per launch and slices are summed in a
// fixed order (add_slices), never with atomics, so the same batches give the same bits.

#define TILE 64          // output tile is TILE x TILE
#define TILE_K 16        // samples per shared-memory step
#define THREADS 256      // 16 x 16 threads, each owning a 4 x 4 block of the tile
#define PER_THREAD 4

// One launch covers grid (ceil(m / TILE), ceil(d / TILE), slices). Slice z handles the samples
// [z * rowsPerSlice, min(rows, (z + 1) * rowsPerSlice)).
//   accumulate != 0: out is C itself and the slice sum is added to it (used with one slice);
//   accumulate == 0: out holds `slices` partial matrices of d * m doubles, overwritten.
//   upperOnly != 0 (X == Y, symmetric result): tiles strictly below the diagonal are skipped;
//   entries below the diagonal inside diagonal tiles are written but carry no information the
//   caller uses (it mirrors the upper triangle).
extern "C" __global__ void __launch_bounds__(THREADS)
xty_f32_to_f64(const float* __restrict__ x, const float* __restrict__ y,
               int rows, int d, int m, int rowsPerSlice, int upperOnly, int accumulate,
               double* __restrict__ out)
{
    const int tileCol = blockIdx.x;
    const int tileRow = blockIdx.y;
    if (upperOnly && tileRow > tileCol) {
        return;
    }
    const int i0 = tileRow * TILE;
    const int j0 = tileCol * TILE;
    const int rowBegin = blockIdx.z * rowsPerSlice;
    const int rowEnd = min(rows, rowBegin + rowsPerSlice);

    // Padded by one double so that column-wise stores do not all land in one bank.
    __shared__ double xs[TILE_K][TILE + 1];
    __shared__ double ys[TILE_K][TILE + 1];

    const int tid = threadIdx.x;
    const int tx = tid % 16;   // output row (i) lane: consecutive threads write consecutive i
    const int ty = tid / 16;   // output column (j) lane

    double acc[PER_THREAD][PER_THREAD];
#pragma unroll
    for (int r = 0; r < PER_THREAD; ++r) {
#pragma unroll
        for (int c = 0; c < PER_THREAD; ++c) {
            acc[r][c] = 0.0;
        }
    }

    for (int k0 = rowBegin; k0 < rowEnd; k0 += TILE_K) {
        // A warp reads 32 consecutive features of one sample: coalesced.
#pragma unroll
        for (int l = 0; l < (TILE_K * TILE) / THREADS; ++l) {
            const int e = tid + l * THREADS;
            const int kk = e / TILE;
            const int col = e % TILE;
            const int k = k0 + kk;
            const int i = i0 + col;
            const int j = j0 + col;
            xs[kk][col] = (k < rowEnd && i < d) ? (double) x[(size_t) k * d + i] : 0.0;
            ys[kk][col] = (k < rowEnd && j < m) ? (double) y[(size_t) k * m + j] : 0.0;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < TILE_K; ++kk) {
            double a[PER_THREAD];
            double b[PER_THREAD];
#pragma unroll
            for (int r = 0; r < PER_THREAD; ++r) {
                a[r] = xs[kk][tx + 16 * r];
            }
#pragma unroll
            for (int c = 0; c < PER_THREAD; ++c) {
                b[c] = ys[kk][ty + 16 * c];
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

    double* slice = accumulate ? out : out + (size_t) blockIdx.z * (size_t) d * (size_t) m;
#pragma unroll
    for (int c = 0; c < PER_THREAD; ++c) {
        const int j = j0 + ty + 16 * c;
#pragma unroll
        for (int r = 0; r < PER_THREAD; ++r) {
            const int i = i0 + tx + 16 * r;
            if (i < d && j < m) {
                const size_t idx = (size_t) i + (size_t) j * d;
                slice[idx] = accumulate ? slice[idx] + acc[r][c] : acc[r][c];
            }
        }
    }
}

// c[idx] += partial[0][idx] + partial[1][idx] + ... in this order, for the d x m column-major
// matrix c (entries below the diagonal skipped when upperOnly). Grid-stride loop.
extern "C" __global__ void __launch_bounds__(THREADS)
add_slices(const double* __restrict__ partial, int slices, int d, int m, int upperOnly,
           double* __restrict__ c)
{
    const size_t total = (size_t) d * (size_t) m;
    const size_t stride = (size_t) gridDim.x * blockDim.x;
    for (size_t idx = (size_t) blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += stride) {
        const size_t i = idx % d;
        const size_t j = idx / d;
        if (upperOnly && i > j) {
            continue;
        }
        double sum = c[idx];
        for (int s = 0; s < slices; ++s) {
            sum += partial[(size_t) s * total + idx];
        }
        c[idx] = sum;
    }
}

// im2col of a convolution's input (the gather that the Java RowGather describes): row (n, p) of
// the samples x positions rows, column c * kernelSize + q, is input plane c of sample n at
// offsets[p * kernelSize + q], or 0 where that offset is -1 (padding); with `ones` a last column
// of 1 follows. out is row-major (rows x cols) float32, ready for xty_f32_to_f64. Each output
// element is written once by one thread (grid-stride loop); the writes are coalesced.
extern "C" __global__ void __launch_bounds__(THREADS)
im2col_f32(const float* __restrict__ input, const int* __restrict__ offsets, int samples, int channels,
           int inSpatial, int positions, int kernelSize, int ones, float* __restrict__ out)
{
    const int features = channels * kernelSize;
    const int cols = features + (ones ? 1 : 0);
    const size_t total = (size_t) samples * (size_t) positions * (size_t) cols;
    const size_t stride = (size_t) gridDim.x * blockDim.x;
    for (size_t idx = (size_t) blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += stride) {
        const size_t row = idx / cols;
        const int col = (int) (idx % cols);
        float v = 1.0f;
        if (col < features) {
            const size_t n = row / positions;
            const int p = (int) (row % positions);
            const int c = col / kernelSize;
            const int q = col % kernelSize;
            const int off = offsets[(size_t) p * kernelSize + q];
            v = off < 0 ? 0.0f : input[(n * channels + c) * (size_t) inSpatial + off];
        }
        out[idx] = v;
    }
}
