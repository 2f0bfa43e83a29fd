package org.onnxfuse.kernels;

import static jcuda.driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;

/**
 * GPU 0 through the JCuda driver API, running our kernels (module {@code native}, loaded from the
 * class path; never nvcc at run time). The O(samples) work, the statistics, runs on the GPU; so do
 * Cholesky solves of order {@link #DEVICE_SOLVE_MIN_ORDER} and more and batches of small systems
 * ({@link CudaCholesky}, our own kernels: cuSOLVER's CUDA 12 bindings do not load with the CUDA 13
 * driver); smaller solves run on the host's LAPACK, through a CPU backend with the same thread count.
 *
 * <p>K-means in Gram form runs on the device ({@link CudaGramKMeans}, its restarts as one batch), and
 * so can the optimiser steps ({@link #adamStep}, {@link #sgdStep}), though the trainer keeps them on
 * the host.
 *
 * <p>Uses the device's primary context (the one the CUDA runtime and ONNX Runtime share), made
 * current on the calling thread at the start of every call; calls are serialised on this object.
 */
final class CudaBackend implements ComputeBackend {
    static final int BLOCK_THREADS = 256;
    /** Bound on the statistics kernel's slice workspace. */
    static final long WORKSPACE_LIMIT_BYTES = 256L << 20;
    /**
     * Smallest order solved on the device. Below it the host's LAPACK wins: a device solve costs
     * about 7 synchronised launches per 64-column panel (tens of microseconds each) plus the
     * copies, while LAPACK solves a 256 x 256 system with as many right-hand sides in milliseconds.
     * (An estimate, not yet measured: KernelBenchmark's cholesky rows will tell.)
     */
    static final int DEVICE_SOLVE_MIN_ORDER = 256;
    /** Fewest small systems choleskySolveAll batches into one launch; fewer are solved on the host. */
    static final int DEVICE_BATCH_MIN_SYSTEMS = 32;

    private final CpuBackend host;
    private final CUdevice device = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final List<CUmodule> modules = new ArrayList<>();
    private final Set<CudaStatisticsAccumulator> openAccumulators = new LinkedHashSet<>();
    private final Set<CudaGramKMeans> openKMeans = new LinkedHashSet<>();
    private final String deviceDescription;
    private final int multiprocessors;
    final CUfunction xtyKernel = new CUfunction();
    final CUfunction addSlicesKernel = new CUfunction();
    final CUfunction im2colKernel = new CUfunction();
    final CUfunction gemmKernel = new CUfunction();
    /** kmeans.cu's kernels by name ({@link CudaGramKMeans#KERNELS}). */
    final Map<String, CUfunction> kmeansKernels = new HashMap<>();
    final CUfunction cholPanelKernel = new CUfunction();
    final CUfunction cholTrsmKernel = new CUfunction();
    final CUfunction cholBatchedKernel = new CUfunction();
    final CUfunction adamKernel = new CUfunction();
    final CUfunction sgdKernel = new CUfunction();
    /** Tests set it to run every solve on the device, whatever the size. */
    volatile boolean forceDeviceSolve;
    private boolean contextRetained;
    private boolean closed;

    CudaBackend(int threads, CudaStatus status) {
        if (!status.available()) {
            throw new BackendUnavailableException("CUDA is not available: " + status.detail());
        }
        this.host = new CpuBackend(threads);
        this.deviceDescription = status.detail();
        try {
            JCudaDriver.setExceptionsEnabled(true);
            JCudaDriver.cuDeviceGet(device, 0);
            JCudaDriver.cuDevicePrimaryCtxRetain(context, device);
            contextRetained = true;
            JCudaDriver.cuCtxSetCurrent(context);
            int[] count = new int[1];
            JCudaDriver.cuDeviceGetAttribute(count, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device);
            this.multiprocessors = count[0];
            CUmodule statistics = loadModule(CudaKernels.STATISTICS);
            JCudaDriver.cuModuleGetFunction(xtyKernel, statistics, "xty_f32_to_f64");
            JCudaDriver.cuModuleGetFunction(addSlicesKernel, statistics, "add_slices");
            JCudaDriver.cuModuleGetFunction(im2colKernel, statistics, "im2col_f32");
            CUmodule gemm = loadModule(CudaKernels.GEMM);
            JCudaDriver.cuModuleGetFunction(gemmKernel, gemm, "dgemm_tiled");
            CUmodule kmeans = loadModule(CudaKernels.KMEANS);
            for (String name : CudaGramKMeans.KERNELS) {
                CUfunction function = new CUfunction();
                JCudaDriver.cuModuleGetFunction(function, kmeans, name);
                kmeansKernels.put(name, function);
            }
            CUmodule cholesky = loadModule(CudaKernels.CHOLESKY);
            JCudaDriver.cuModuleGetFunction(cholPanelKernel, cholesky, "chol_panel");
            JCudaDriver.cuModuleGetFunction(cholTrsmKernel, cholesky, "chol_trsm");
            JCudaDriver.cuModuleGetFunction(cholBatchedKernel, cholesky, "chol_batched");
            CUmodule optimizer = loadModule(CudaKernels.OPTIMIZER);
            JCudaDriver.cuModuleGetFunction(adamKernel, optimizer, "adam_step");
            JCudaDriver.cuModuleGetFunction(sgdKernel, optimizer, "sgd_step");
        } catch (CudaException e) {
            releaseDevice();
            throw new BackendUnavailableException("the CUDA backend could not start on " + deviceDescription + ": "
                    + e.getMessage(), e);
        } catch (RuntimeException e) {
            releaseDevice();
            throw e;
        }
    }

    private CUmodule loadModule(String name) {
        List<CudaKernels.Image> images = CudaKernels.images(name);
        if (images.isEmpty()) {
            throw new BackendUnavailableException("the CUDA kernel module '" + name + "' is not on the class path ("
                    + CudaKernels.RESOURCE_DIR + name + ".ptx): the native module was built without nvcc");
        }
        StringBuilder failures = new StringBuilder();
        for (CudaKernels.Image image : images) {
            CUmodule module = new CUmodule();
            try {
                JCudaDriver.cuModuleLoadData(module, image.bytes());
                modules.add(module);
                return module;
            } catch (CudaException e) {
                failures.append(failures.length() == 0 ? "" : "; ").append(image.resource()).append(": ")
                        .append(e.getMessage());
            }
        }
        throw new BackendUnavailableException("the driver rejected every image of the CUDA kernel module '" + name
                + "' (" + failures + "); expected a driver for CUDA 13 or newer and a compute capability 9.0+ GPU");
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public int threads() {
        return host.threads();
    }

    @Override
    public String description() {
        return "cuda: " + deviceDescription + ", " + multiprocessors + " multiprocessors; host LAPACK with "
                + host.threads() + (host.threads() == 1 ? " thread" : " threads");
    }

    int multiprocessors() {
        return multiprocessors;
    }

    @Override
    public synchronized DenseMatrix gemm(Transpose opA, Transpose opB, double alpha, DenseMatrix a, DenseMatrix b,
                                         double beta, DenseMatrix c) {
        requireOpen();
        int[] mnk = Shapes.gemm(opA, opB, a, b, beta, c);
        int m = mnk[0];
        int n = mnk[1];
        int k = mnk[2];
        double[] out = new double[m * n];
        if (m == 0 || n == 0) {
            return DenseMatrix.wrap(m, n, out);
        }
        makeCurrent();
        try (DeviceBuffer da = DeviceBuffer.upload(a.data());
             DeviceBuffer db = DeviceBuffer.upload(b.data());
             DeviceBuffer dc = beta != 0.0 ? DeviceBuffer.upload(c.data()) : new DeviceBuffer(8L * m * n)) {
            Pointer params = Pointer.to(
                    Pointer.to(new int[] {opA == Transpose.YES ? 1 : 0}),
                    Pointer.to(new int[] {opB == Transpose.YES ? 1 : 0}),
                    Pointer.to(new int[] {m}),
                    Pointer.to(new int[] {n}),
                    Pointer.to(new int[] {k}),
                    Pointer.to(new double[] {alpha}),
                    Pointer.to(da.pointer()),
                    Pointer.to(new int[] {Math.max(1, a.rows())}),
                    Pointer.to(db.pointer()),
                    Pointer.to(new int[] {Math.max(1, b.rows())}),
                    Pointer.to(new double[] {beta}),
                    Pointer.to(dc.pointer()),
                    Pointer.to(new int[] {m}));
            launch(gemmKernel, ceilDiv(n, SlicePlan.TILE), ceilDiv(m, SlicePlan.TILE), 1, params);
            dc.copyTo(out);
        } catch (CudaException e) {
            throw failure("gemm " + a.shape() + " x " + b.shape(), e);
        }
        return DenseMatrix.wrap(m, n, out);
    }

    @Override
    public synchronized StatisticsAccumulator openStatistics(int d, int m, boolean targetGram) {
        requireOpen();
        makeCurrent();
        CudaStatisticsAccumulator accumulator = new CudaStatisticsAccumulator(this, d, m, targetGram);
        openAccumulators.add(accumulator);
        return accumulator;
    }

    @Override
    public boolean gathersRowsOnDevice() {
        return true;
    }

    /** Called by an accumulator's close, under this object's lock. */
    void forget(CudaStatisticsAccumulator accumulator) {
        openAccumulators.remove(accumulator);
    }

    @Override
    public synchronized GramKMeans openGramKMeans(double[] cross, double[] gram, double[] targetSquaredNorms,
                                                  int m) {
        requireOpen();
        makeCurrent();
        CudaGramKMeans kMeans = new CudaGramKMeans(this, cross, gram, targetSquaredNorms, m);
        openKMeans.add(kMeans);
        return kMeans;
    }

    /** Called by a k-means's close, under this object's lock. */
    void forget(CudaGramKMeans kMeans) {
        openKMeans.remove(kMeans);
    }

    @Override
    public DenseMatrix choleskySolve(DenseMatrix s, DenseMatrix b, double ridge) {
        requireOpen();
        Shapes.choleskySolve(s, b, ridge);
        if (s.rows() == 0 || b.cols() == 0 || (s.rows() < DEVICE_SOLVE_MIN_ORDER && !forceDeviceSolve)) {
            return host.choleskySolve(s, b, ridge);
        }
        synchronized (this) {
            requireOpen();
            makeCurrent();
            return CudaCholesky.solve(this, s, b, ridge);
        }
    }

    /** One launch for many systems of one small size (at most CudaCholesky.PANEL), else one solve each. */
    @Override
    public List<DenseMatrix> choleskySolveAll(List<DenseMatrix> systems, List<DenseMatrix> rightHandSides,
                                              double[] ridges) {
        requireOpen();
        Shapes.choleskySolveAll(systems, rightHandSides, ridges);
        int count = systems.size();
        boolean batch = count > 0 && (count >= DEVICE_BATCH_MIN_SYSTEMS || forceDeviceSolve);
        for (int i = 0; i < count && batch; i++) {
            int n = systems.get(i).rows();
            batch = n >= 1 && n <= CudaCholesky.PANEL && n == systems.get(0).rows()
                    && rightHandSides.get(i).cols() >= 1 && rightHandSides.get(i).cols() == rightHandSides.get(0).cols();
        }
        if (!batch) {
            return ComputeBackend.super.choleskySolveAll(systems, rightHandSides, ridges);
        }
        synchronized (this) {
            requireOpen();
            makeCurrent();
            return CudaCholesky.solveBatched(this, systems, rightHandSides, ridges);
        }
    }

    /**
     * On the device (optimizer.cu), bit-identical to the host loop: the four buffers go up, one
     * launch, parameters and moments come back. The transfers (28 bytes per value) cost more than the
     * host loop's arithmetic while the parameters live on the host, so the trainer keeps the host
     * steps ({@link OptimizerSteps#HOST}); see {@link #adamStepOnDevice} for buffers already there.
     */
    @Override
    public synchronized void adamStep(float[] parameters, float[] gradients, float[] firstMoment,
                                      float[] secondMoment, AdamStep step) {
        AdamStep.checkLengths(parameters, gradients, firstMoment, secondMoment);
        requireOpen();
        if (parameters.length == 0) {
            return;
        }
        makeCurrent();
        try (DeviceBuffer p = DeviceBuffer.upload(parameters); DeviceBuffer g = DeviceBuffer.upload(gradients);
             DeviceBuffer m1 = DeviceBuffer.upload(firstMoment); DeviceBuffer m2 = DeviceBuffer.upload(secondMoment)) {
            adamStepOnDevice(p, g, m1, m2, parameters.length, step);
            p.copyTo(parameters);
            m1.copyTo(firstMoment);
            m2.copyTo(secondMoment);
        } catch (CudaException e) {
            throw failure("adam_step (" + parameters.length + " values)", e);
        }
    }

    /** Adam on {@code n} values already on the device, in place; callers hold this object's lock. */
    void adamStepOnDevice(DeviceBuffer p, DeviceBuffer g, DeviceBuffer m1, DeviceBuffer m2, int n, AdamStep step) {
        launch(adamKernel, elementwiseBlocks(n), 1, 1, Pointer.to(Pointer.to(new int[] {n}), Pointer.to(p.pointer()),
                Pointer.to(g.pointer()), Pointer.to(m1.pointer()), Pointer.to(m2.pointer()), doubles(step.beta1()),
                doubles(1 - step.beta1()), doubles(step.beta2()), doubles(1 - step.beta2()), doubles(step.epsilon()),
                doubles(step.l2()), doubles(step.keep()), doubles(step.stepSize()),
                doubles(step.secondCorrectionRoot())));
    }

    /** On the device (optimizer.cu), bit-identical to the host loop; as {@link #adamStep}. */
    @Override
    public synchronized void sgdStep(float[] parameters, float[] gradients, float[] velocity, SgdStep step) {
        AdamStep.checkLengths(parameters, gradients, velocity);
        requireOpen();
        if (parameters.length == 0) {
            return;
        }
        makeCurrent();
        try (DeviceBuffer p = DeviceBuffer.upload(parameters); DeviceBuffer g = DeviceBuffer.upload(gradients);
             DeviceBuffer b = DeviceBuffer.upload(velocity)) {
            sgdStepOnDevice(p, g, b, parameters.length, step);
            p.copyTo(parameters);
            b.copyTo(velocity);
        } catch (CudaException e) {
            throw failure("sgd_step (" + parameters.length + " values)", e);
        }
    }

    /** SGD on {@code n} values already on the device, in place; callers hold this object's lock. */
    void sgdStepOnDevice(DeviceBuffer p, DeviceBuffer g, DeviceBuffer b, int n, SgdStep step) {
        launch(sgdKernel, elementwiseBlocks(n), 1, 1, Pointer.to(Pointer.to(new int[] {n}), Pointer.to(p.pointer()),
                Pointer.to(g.pointer()), Pointer.to(b.pointer()), doubles(step.momentum()),
                Pointer.to(new int[] {step.nesterov() ? 1 : 0}), doubles(step.l2()), doubles(step.keep()),
                doubles(step.learningRate())));
    }

    /** Enough blocks to fill the device a few times over; the elementwise kernels stride the rest. */
    private int elementwiseBlocks(int n) {
        return Math.max(1, Math.min(ceilDiv(n, BLOCK_THREADS), 8 * multiprocessors));
    }

    private static Pointer doubles(double value) {
        return Pointer.to(new double[] {value});
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            // Device memory belongs to the context: free what callers left open while it exists.
            for (CudaStatisticsAccumulator accumulator : List.copyOf(openAccumulators)) {
                accumulator.close();
            }
            for (CudaGramKMeans kMeans : List.copyOf(openKMeans)) {
                kMeans.close();
            }
            closed = true;
            releaseDevice();
            host.close();
        }
    }

    private void releaseDevice() {
        try {
            if (contextRetained) {
                JCudaDriver.cuCtxSetCurrent(context);
                for (CUmodule module : modules) {
                    JCudaDriver.cuModuleUnload(module);
                }
                modules.clear();
                contextRetained = false;
                JCudaDriver.cuDevicePrimaryCtxRelease(device);
            }
        } catch (CudaException e) {
            // Closing must not mask the error that led here; the driver reclaims at exit.
        }
    }

    /** Makes this backend's context current on the calling thread; callers hold this object's lock. */
    void makeCurrent() {
        JCudaDriver.cuCtxSetCurrent(context);
    }

    /** Launches with BLOCK_THREADS threads per block and waits, so launch errors surface here. */
    void launch(CUfunction kernel, int gridX, int gridY, int gridZ, Pointer params) {
        launchOn(null, kernel, gridX, gridY, gridZ, params);
        JCudaDriver.cuCtxSynchronize();
    }

    /**
     * Queues a launch on {@code stream} (null: the legacy default stream) without waiting: only
     * launch-configuration errors surface here, the kernel's own at the stream's next synchronisation.
     */
    void launchOn(CUstream stream, CUfunction kernel, int gridX, int gridY, int gridZ, Pointer params) {
        JCudaDriver.cuLaunchKernel(kernel, gridX, gridY, gridZ, BLOCK_THREADS, 1, 1, 0, stream, params, null);
    }

    BackendException failure(String what, CudaException e) {
        return new BackendException("CUDA " + what + " failed on " + deviceDescription + ": " + e.getMessage(), e);
    }

    void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the cuda backend is closed");
        }
    }

    static int ceilDiv(long a, long b) {
        return Math.toIntExact((a + b - 1) / b);
    }

    @Override
    public String toString() {
        return description();
    }
}
