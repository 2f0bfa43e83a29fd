package org.onnxfuse.fusion.collect;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtLoggingLevel;

/**
 * ONNX Runtime logs to stderr from native code, in colour and over several lines, which would
 * break the CLI's one line per error. Its level is fixed when the process-wide environment is
 * created, so this must run before anything else touches ONNX Runtime.
 */
public final class RuntimeLogging {
    private RuntimeLogging() {
    }

    /** Warnings and errors of ONNX Runtime itself reach stderr only when {@code verbose}. */
    public static void configure(boolean verbose) {
        OrtEnvironment.getEnvironment(verbose ? OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING
                : OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL);
    }
}
