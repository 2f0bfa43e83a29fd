package org.onnxfuse.kernels;

import static jcuda.driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR;
import static jcuda.driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR;

import java.nio.charset.StandardCharsets;
import jcuda.driver.CUdevice;
import jcuda.driver.JCudaDriver;

/**
 * Finds out once per process whether CUDA works, by trying the driver API, and caches the answer:
 * without the NVIDIA driver the first JCuda call throws UnsatisfiedLinkError and JCuda's classes
 * stay unusable, so nobody should try twice.
 */
final class CudaProbe {
    /** The bundled kernels target compute_90 (Hopper) PTX and sm_90 machine code. */
    static final int MIN_COMPUTE_CAPABILITY = 90;

    private CudaProbe() {
    }

    static CudaStatus status() {
        return Holder.STATUS;
    }

    private static final class Holder {
        static final CudaStatus STATUS = probe();
    }

    private static CudaStatus probe() {
        String missing = CudaKernels.firstMissing();
        if (missing != null) {
            return new CudaStatus(false, "the CUDA kernels are not on the class path (" + missing
                    + "): the native module was built without nvcc");
        }
        try {
            JCudaDriver.setExceptionsEnabled(true);
            JCudaDriver.cuInit(0);
            int[] count = new int[1];
            JCudaDriver.cuDeviceGetCount(count);
            if (count[0] == 0) {
                return new CudaStatus(false, "the CUDA driver found no GPU (cuDeviceGetCount = 0)");
            }
            CUdevice device = new CUdevice();
            JCudaDriver.cuDeviceGet(device, 0);
            String name = deviceName(device);
            int capability = computeCapability(device);
            int[] driver = new int[1];
            JCudaDriver.cuDriverGetVersion(driver);
            String described = "GPU 0: " + name + ", compute capability " + capability / 10 + "." + capability % 10
                    + ", driver CUDA " + driver[0] / 1000 + "." + driver[0] % 1000 / 10;
            if (capability < MIN_COMPUTE_CAPABILITY) {
                return new CudaStatus(false, described + "; the bundled kernels need compute capability 9.0"
                        + " (Hopper) or newer");
            }
            return new CudaStatus(true, described);
        } catch (LinkageError e) {
            return new CudaStatus(false, linkageReason(e));
        } catch (RuntimeException e) {
            // jcuda.CudaException, e.g. CUDA_ERROR_NO_DEVICE from cuInit.
            return new CudaStatus(false, "the CUDA driver failed: " + firstLine(e.getMessage()));
        }
    }

    static String deviceName(CUdevice device) {
        byte[] name = new byte[256];
        JCudaDriver.cuDeviceGetName(name, name.length, device);
        int end = 0;
        while (end < name.length && name[end] != 0) {
            end++;
        }
        return new String(name, 0, end, StandardCharsets.UTF_8);
    }

    static int computeCapability(CUdevice device) {
        int[] major = new int[1];
        int[] minor = new int[1];
        JCudaDriver.cuDeviceGetAttribute(major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
        JCudaDriver.cuDeviceGetAttribute(minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
        return major[0] * 10 + minor[0];
    }

    private static String linkageReason(LinkageError e) {
        String message = String.valueOf(e.getMessage());
        if (message.contains("libcuda.so")) {
            return "the NVIDIA driver library libcuda.so.1 was not found (no NVIDIA driver on this machine)";
        }
        return "the JCuda driver binding could not be loaded: " + e.getClass().getSimpleName() + ": "
                + firstLine(message);
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "(no message)";
        }
        int nl = s.indexOf('\n');
        return (nl < 0 ? s : s.substring(0, nl)).strip();
    }
}
