package org.onnxfuse.onnx.errors;

import java.util.Objects;

/**
 * Base of the project's unchecked errors. The message is one line that says what was expected,
 * what was found and, where it helps, how to fix it; the code selects the exit status.
 */
public class OnnxFuseException extends RuntimeException {
    private final ErrorCode code;

    public OnnxFuseException(ErrorCode code, String message) {
        super(message);
        this.code = Objects.requireNonNull(code);
    }

    public OnnxFuseException(ErrorCode code, String message, Throwable cause) {
        super(message, cause);
        this.code = Objects.requireNonNull(code);
    }

    public ErrorCode code() {
        return code;
    }
}
