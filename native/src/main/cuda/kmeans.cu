// Weighted K-means in Gram form (CudaGramKMeans.java): the squared distance of neuron i to a
// centroid u is clamp(u^T G u - 2 (C u)_i + t_i), with C and G column-major m x m
// (C[i + j * m] = C_ij) and t the targets' squared norms. Every kernel reproduces the Java
// reference (CpuGramKMeans.java) bit for bit: the same float64 operations in the same order.
// nvcc contracts a * b + c into one fma (a single rounding) wherever it can, and Java never does;
// __dmul_rn, __dadd_rn and __dsub_rn are never contracted, so every operation whose rounding
// matters is written with them. Comparisons and the clamp need no rounding.
//
// No kernel uses shared memory across threads except kmeans_argmax (one block, guarded by
// __syncthreads); no kernel depends on another block of the same launch. All are launched with
// THREADS threads per block (CudaBackend.BLOCK_THREADS).

#define THREADS 256

// Negative rounding residue becomes 0; NaN stays NaN (as ProjectedTargets.clamp).
__device__ __forceinline__ double clamp0(double squared)
{
    return squared < 0.0 ? 0.0 : squared;
}

// clamp(quadratic - 2 * cross + t) in Java's left-to-right order.
__device__ __forceinline__ double gram_distance(double quadratic, double cross, double t)
{
    return clamp0(__dadd_rn(__dsub_rn(quadratic, __dmul_rn(2.0, cross)), t));
}

// Farthest-first, after seed `seed` was chosen: nearest[i] = min(nearest[i], d2(seed, i)), and the
// seed is marked chosen. One thread per neuron; reads of C's column `seed` are coalesced.
extern "C" __global__ void __launch_bounds__(THREADS)
kmeans_seed_update(int m, int seed, const double* __restrict__ C, const double* __restrict__ G,
                   const double* __restrict__ t, double* __restrict__ nearest, int* __restrict__ chosen)
{
    const int i = blockIdx.x * THREADS + threadIdx.x;
    if (i >= m) {
        return;
    }
    const double seedGram = G[(size_t) seed + (size_t) seed * m];
    const double d2 = gram_distance(seedGram, C[(size_t) i + (size_t) seed * m], t[i]);
    if (d2 < nearest[i]) {
        nearest[i] = d2;
    }
    if (i == seed) {
        chosen[i] = 1;
    }
}

// Farthest-first: out[0] = the unchosen i of largest nearest[i], the lowest index on ties (as Java's
// ascending scan with a strict >). One block of THREADS threads: each scans its strided share in
// ascending order, then a tree reduction that prefers the larger value, then the lower index.
// (NaN distances, only from NaN statistics, are not ordered as the Java scan orders them.)
extern "C" __global__ void __launch_bounds__(THREADS)
kmeans_argmax(int m, const double* __restrict__ nearest, const int* __restrict__ chosen, int* __restrict__ out)
{
    __shared__ double value[THREADS];
    __shared__ int index[THREADS];
    const int tid = threadIdx.x;
    int best = -1;
    double bestValue = 0.0;
    for (int i = tid; i < m; i += THREADS) {
        if (!chosen[i] && (best < 0 || nearest[i] > bestValue)) {
            best = i;
            bestValue = nearest[i];
        }
    }
    value[tid] = bestValue;
    index[tid] = best;
    __syncthreads();
    for (int half = THREADS / 2; half > 0; half /= 2) {
        if (tid < half) {
            const int other = index[tid + half];
            const double otherValue = value[tid + half];
            const int mine = index[tid];
            if (other >= 0 && (mine < 0 || otherValue > value[tid] || (otherValue == value[tid] && other < mine))) {
                index[tid] = other;
                value[tid] = otherValue;
            }
        }
        __syncthreads();
    }
    if (tid == 0) {
        out[0] = index[0];
    }
}

// Step, part 1: row[a] = sum_b G_ab w_b over the members b of a's group in ascending order (the
// inner loop of u_g^T G u_g), for every neuron a with a group. members[start[g] .. start[g + 1])
// are group g's members, ascending. One thread per neuron.
extern "C" __global__ void __launch_bounds__(THREADS)
kmeans_rows(int m, const double* __restrict__ G, const int* __restrict__ owner, const double* __restrict__ weight,
            const int* __restrict__ start, const int* __restrict__ members, double* __restrict__ row)
{
    const int a = blockIdx.x * THREADS + threadIdx.x;
    if (a >= m) {
        return;
    }
    const int g = owner[a];
    if (g < 0) {
        return;
    }
    double sum = 0.0;
    for (int p = start[g]; p < start[g + 1]; ++p) {
        const int b = members[p];
        sum = __dadd_rn(sum, __dmul_rn(G[(size_t) a + (size_t) b * m], weight[b]));
    }
    row[a] = sum;
}

// Step, part 2: quadratic[g] = sum_a w_a row[a] over g's members in ascending order (0 for an
// empty group). One thread per group: O(m) in all.
extern "C" __global__ void __launch_bounds__(THREADS)
kmeans_quadratic(int k, const double* __restrict__ weight, const int* __restrict__ start,
                 const int* __restrict__ members, const double* __restrict__ row, double* __restrict__ quadratic)
{
    const int g = blockIdx.x * THREADS + threadIdx.x;
    if (g >= k) {
        return;
    }
    double sum = 0.0;
    for (int p = start[g]; p < start[g + 1]; ++p) {
        const int a = members[p];
        sum = __dadd_rn(sum, __dmul_rn(weight[a], row[a]));
    }
    quadratic[g] = sum;
}

// Step, part 3: d2[i + g * m] = clamp(quadratic[g] - 2 sum_j w_j C_ij + t_i), the sum over g's
// members j in ascending order. One thread per neuron i (x), groups strided over y; the threads of a
// warp read C[i + j * m] for consecutive i (coalesced) and the same member j (a broadcast).
extern "C" __global__ void __launch_bounds__(THREADS)
kmeans_distances(int m, int k, const double* __restrict__ C, const double* __restrict__ t,
                 const double* __restrict__ weight, const int* __restrict__ start, const int* __restrict__ members,
                 const double* __restrict__ quadratic, double* __restrict__ d2)
{
    const int i = blockIdx.x * THREADS + threadIdx.x;
    if (i >= m) {
        return;
    }
    const double ti = t[i];
    for (int g = blockIdx.y; g < k; g += gridDim.y) {
        double cross = 0.0;
        for (int p = start[g]; p < start[g + 1]; ++p) {
            const int j = members[p];
            cross = __dadd_rn(cross, __dmul_rn(weight[j], C[(size_t) i + (size_t) j * m]));
        }
        d2[(size_t) i + (size_t) g * m] = gram_distance(quadratic[g], cross, ti);
    }
}

// Step, part 4: the nearest group per neuron. A neuron stays in current[i] (group 0 when
// hasCurrent is 0) unless another group is strictly nearer; the lowest id among equally near ones.
// One thread per neuron; reads of d2 are coalesced. currentD2 is written only with hasCurrent.
extern "C" __global__ void __launch_bounds__(THREADS)
kmeans_nearest(int m, int k, const double* __restrict__ d2, int hasCurrent, const int* __restrict__ current,
               int* __restrict__ next, double* __restrict__ nextD2, double* __restrict__ currentD2)
{
    const int i = blockIdx.x * THREADS + threadIdx.x;
    if (i >= m) {
        return;
    }
    int best = hasCurrent ? current[i] : 0;
    double bestD2 = d2[(size_t) i + (size_t) best * m];
    if (hasCurrent) {
        currentD2[i] = bestD2;
    }
    for (int g = 0; g < k; ++g) {
        const double v = d2[(size_t) i + (size_t) g * m];
        if (v < bestD2) {
            best = g;
            bestD2 = v;
        }
    }
    next[i] = best;
    nextD2[i] = bestD2;
}
