package org.onnxfuse.fusion.collect;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtLoggingLevel;

/**
 * ONNX Runtime logs to stderr from native code, in colour and over several lines, which would
 * break the CLI's one line per error. Its level is fixed when the process-wide environment is
 * created, so {@link #configure} must run before anything else touches ONNX Runtime; the
 * environment itself is created at the first {@link #environment()} (the first session), so that
 * the native libraries can load in the background meanwhile ({@link OrtLibraryCache}).
 */
public final class RuntimeLogging {
    /** The level the environment is created with; null: ONNX Runtime's default (warnings). */
    private static volatile OrtLoggingLevel level;
    /** The level last handed to ONNX Runtime, which warns each time it is asked for another one. */
    private static OrtLoggingLevel asked;

    private RuntimeLogging() {
    }

    /** Warnings and errors of ONNX Runtime itself reach stderr only when {@code verbose}. */
    public static void configure(boolean verbose) {
        level = verbose ? OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING : OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
    }

    /**
     * The process-wide environment, created at the first call with the configured level and the
     * native libraries from {@link OrtLibraryCache}. A level configured after the environment exists
     * cannot take effect; ONNX Runtime says so once per {@link #configure} that changes it, as
     * before, not once per session.
     */
    public static synchronized OrtEnvironment environment() {
        OrtLibraryCache.install();
        OrtLoggingLevel configured = level;
        if (configured == null || configured == asked) {
            return OrtEnvironment.getEnvironment();
        }
        asked = configured;
        return OrtEnvironment.getEnvironment(configured);
    }
}
