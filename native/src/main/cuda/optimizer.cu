// One optimiser step of the gradient variant on flat float32 buffers (OptimizerSteps.java): every
// element is computed in float64 and stored as float32, with the same float64 operations in the same
// order as the Java loops (AdamStep.applyOnHost, SgdStep.applyOnHost), so the device gives the CPU's
// bits. nvcc would contract a * b + c into one fused multiply-add (a single rounding) and Java never
// does, so every operation is written with __dmul_rn, __dadd_rn, __dsub_rn, __ddiv_rn and
// __dsqrt_rn (IEEE round-to-nearest, never contracted); float-to-double is exact and
// __double2float_rn is Java's (float) cast. The host passes the per-step constants (bias
// corrections, 1 - beta, the decay factors) already computed, as the Java loop reads them.
//
// One thread per element, grid-stride; no shared memory, no dependence between elements.
// Launched with THREADS threads per block (CudaBackend.BLOCK_THREADS).

#define THREADS 256

// Adam: grad = g + l2 p; m1 = beta1 m1 + (1 - beta1) grad; m2 = beta2 m2 + (1 - beta2) grad grad;
// p = keep p - stepSize m1 / (sqrt(m2) / secondCorrectionRoot + epsilon), m1 and m2 in float64 before
// they are stored.
extern "C" __global__ void __launch_bounds__(THREADS)
adam_step(int n, float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m1,
          float* __restrict__ m2, double beta1, double oneMinusBeta1, double beta2, double oneMinusBeta2,
          double epsilon, double l2, double keep, double stepSize, double secondCorrectionRoot)
{
    const size_t stride = (size_t) gridDim.x * THREADS;
    for (size_t j = (size_t) blockIdx.x * THREADS + threadIdx.x; j < (size_t) n; j += stride) {
        const double pj = (double) p[j];
        const double grad = __dadd_rn((double) g[j], __dmul_rn(l2, pj));
        const double first = __dadd_rn(__dmul_rn(beta1, (double) m1[j]), __dmul_rn(oneMinusBeta1, grad));
        const double second = __dadd_rn(__dmul_rn(beta2, (double) m2[j]),
                                        __dmul_rn(__dmul_rn(oneMinusBeta2, grad), grad));
        m1[j] = __double2float_rn(first);
        m2[j] = __double2float_rn(second);
        const double denominator = __dadd_rn(__ddiv_rn(__dsqrt_rn(second), secondCorrectionRoot), epsilon);
        p[j] = __double2float_rn(__dsub_rn(__dmul_rn(keep, pj), __ddiv_rn(__dmul_rn(stepSize, first), denominator)));
    }
}

// SGD with momentum (no dampening): grad = g + l2 p; buffer = momentum b + grad (stored in b);
// direction = grad + momentum buffer with Nesterov, else buffer; p = keep p - learningRate direction.
extern "C" __global__ void __launch_bounds__(THREADS)
sgd_step(int n, float* __restrict__ p, const float* __restrict__ g, float* __restrict__ b, double momentum,
         int nesterov, double l2, double keep, double learningRate)
{
    const size_t stride = (size_t) gridDim.x * THREADS;
    for (size_t j = (size_t) blockIdx.x * THREADS + threadIdx.x; j < (size_t) n; j += stride) {
        const double pj = (double) p[j];
        const double grad = __dadd_rn((double) g[j], __dmul_rn(l2, pj));
        const double buffer = __dadd_rn(__dmul_rn(momentum, (double) b[j]), grad);
        b[j] = __double2float_rn(buffer);
        const double direction = nesterov ? __dadd_rn(grad, __dmul_rn(momentum, buffer)) : buffer;
        p[j] = __double2float_rn(__dsub_rn(__dmul_rn(keep, pj), __dmul_rn(learningRate, direction)));
    }
}
