// Weighted K-means in Gram form (CudaGramKMeans.java): the squared distance of neuron i to a
// centroid u is clamp(u^T G u - 2 (C u)_i + t_i), with C and G column-major m x m
// (C[i + j * m] = C_ij) and t the targets' squared norms. Every kernel reproduces the Java
// reference (CpuGramKMeans.java) bit for bit: the same float64 operations in the same order.
// nvcc contracts a * b + c into one fma (a single rounding) wherever it can, and Java never does;
// __dmul_rn, __dadd_rn and __dsub_rn are never contracted, so every operation whose rounding
// matters is written with them. Comparisons and the clamp need no rounding.
//
// Every kernel runs R independent restarts at once, restart r = blockIdx.z (R = 1: one restart).
// The restarts' arrays are stacked, restart r's part starting at
//   r * m      owner, weight, current, members, row, next, nextD2, currentD2, nearest, chosen
//   r * (k+1)  start (offsets into the restart's own members)
//   r * k      quadratic, seeds
//   r * m * k  d2
// while C, G and t are shared. A restart's values are computed exactly as for a lone restart.
//
// No kernel uses shared memory across threads except kmeans_argmax (one block per restart, guarded
// by __syncthreads); no kernel depends on another block of the same launch. All are launched with
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

// Farthest-first, step c: the seed seeds[c] was chosen (by the host for c = 0, by kmeans_argmax
// after); nearest[i] = min(nearest[i], d2(seed, i)), and the seed is marked chosen. One thread per
// neuron; reads of C's column `seed` are coalesced.
extern "C" __global__ void __launch_bounds__(THREADS)
kmeans_seed_update(int m, int k, int c, const double* __restrict__ C, const double* __restrict__ G,
                   const double* __restrict__ t, double* __restrict__ nearest, int* __restrict__ chosen,
                   const int* __restrict__ seeds)
{
    const int i = blockIdx.x * THREADS + threadIdx.x;
    if (i >= m) {
        return;
    }
    const size_t base = (size_t) blockIdx.z * m;
    const int seed = seeds[(size_t) blockIdx.z * k + c];
    const double seedGram = G[(size_t) seed + (size_t) seed * m];
    const double d2 = gram_distance(seedGram, C[(size_t) i + (size_t) seed * m], t[i]);
    if (d2 < nearest[base + i]) {
        nearest[base + i] = d2;
    }
    if (i == seed) {
        chosen[base + i] = 1;
    }
}

// Farthest-first, step c > 0: seeds[c] = the unchosen i of largest nearest[i], the lowest index on
// ties (as Java's ascending scan with a strict >). One block of THREADS threads per restart: each
// thread scans its strided share in ascending order, then a tree reduction that prefers the larger
// value, then the lower index. The seed stays on the device for kmeans_seed_update.
// (NaN distances, only from NaN statistics, are not ordered as the Java scan orders them.)
extern "C" __global__ void __launch_bounds__(THREADS)
kmeans_argmax(int m, int k, int c, const double* __restrict__ nearest, const int* __restrict__ chosen,
              int* __restrict__ seeds)
{
    __shared__ double value[THREADS];
    __shared__ int index[THREADS];
    const double* near = nearest + (size_t) blockIdx.z * m;
    const int* taken = chosen + (size_t) blockIdx.z * m;
    const int tid = threadIdx.x;
    int best = -1;
    double bestValue = 0.0;
    for (int i = tid; i < m; i += THREADS) {
        if (!taken[i] && (best < 0 || near[i] > bestValue)) {
            best = i;
            bestValue = near[i];
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
        seeds[(size_t) blockIdx.z * k + c] = index[0];
    }
}

// Step, part 1: row[a] = sum_b G_ab w_b over the members b of a's group in ascending order (the
// inner loop of u_g^T G u_g), for every neuron a with a group. members[start[g] .. start[g + 1])
// are group g's members, ascending. One thread per neuron.
extern "C" __global__ void __launch_bounds__(THREADS)
kmeans_rows(int m, int k, const double* __restrict__ G, const int* __restrict__ owner,
            const double* __restrict__ weight, const int* __restrict__ start, const int* __restrict__ members,
            double* __restrict__ row)
{
    const int a = blockIdx.x * THREADS + threadIdx.x;
    if (a >= m) {
        return;
    }
    const size_t base = (size_t) blockIdx.z * m;
    const int g = owner[base + a];
    if (g < 0) {
        return;
    }
    const int* first = start + (size_t) blockIdx.z * (k + 1);
    const int* member = members + base;
    const double* w = weight + base;
    double sum = 0.0;
    for (int p = first[g]; p < first[g + 1]; ++p) {
        const int b = member[p];
        sum = __dadd_rn(sum, __dmul_rn(G[(size_t) a + (size_t) b * m], w[b]));
    }
    row[base + a] = sum;
}

// Step, part 2: quadratic[g] = sum_a w_a row[a] over g's members in ascending order (0 for an
// empty group). One thread per group: O(m) in all.
extern "C" __global__ void __launch_bounds__(THREADS)
kmeans_quadratic(int m, int k, const double* __restrict__ weight, const int* __restrict__ start,
                 const int* __restrict__ members, const double* __restrict__ row, double* __restrict__ quadratic)
{
    const int g = blockIdx.x * THREADS + threadIdx.x;
    if (g >= k) {
        return;
    }
    const size_t base = (size_t) blockIdx.z * m;
    const int* first = start + (size_t) blockIdx.z * (k + 1);
    const int* member = members + base;
    double sum = 0.0;
    for (int p = first[g]; p < first[g + 1]; ++p) {
        const int a = member[p];
        sum = __dadd_rn(sum, __dmul_rn(weight[base + a], row[base + a]));
    }
    quadratic[(size_t) blockIdx.z * k + g] = sum;
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
    const size_t base = (size_t) blockIdx.z * m;
    const int* first = start + (size_t) blockIdx.z * (k + 1);
    const int* member = members + base;
    const double* w = weight + base;
    const double* q = quadratic + (size_t) blockIdx.z * k;
    double* table = d2 + (size_t) blockIdx.z * m * k;
    const double ti = t[i];
    for (int g = blockIdx.y; g < k; g += gridDim.y) {
        double cross = 0.0;
        for (int p = first[g]; p < first[g + 1]; ++p) {
            const int j = member[p];
            cross = __dadd_rn(cross, __dmul_rn(w[j], C[(size_t) i + (size_t) j * m]));
        }
        table[(size_t) i + (size_t) g * m] = gram_distance(q[g], cross, ti);
    }
}

// Step, part 4: the nearest group per neuron. A neuron stays in current[i] (group 0 when the
// restart's hasCurrent is 0) unless another group is strictly nearer; the lowest id among equally
// near ones. One thread per neuron; reads of d2 are coalesced. currentD2 is written only with
// hasCurrent.
extern "C" __global__ void __launch_bounds__(THREADS)
kmeans_nearest(int m, int k, const double* __restrict__ d2, const int* __restrict__ hasCurrent,
               const int* __restrict__ current, int* __restrict__ next, double* __restrict__ nextD2,
               double* __restrict__ currentD2)
{
    const int i = blockIdx.x * THREADS + threadIdx.x;
    if (i >= m) {
        return;
    }
    const size_t base = (size_t) blockIdx.z * m;
    const double* table = d2 + (size_t) blockIdx.z * m * k;
    const int withCurrent = hasCurrent[blockIdx.z];
    int best = withCurrent ? current[base + i] : 0;
    double bestD2 = table[(size_t) i + (size_t) best * m];
    if (withCurrent) {
        currentD2[base + i] = bestD2;
    }
    for (int g = 0; g < k; ++g) {
        const double v = table[(size_t) i + (size_t) g * m];
        if (v < bestD2) {
            best = g;
            bestD2 = v;
        }
    }
    next[base + i] = best;
    nextD2[base + i] = bestD2;
}
