package org.onnxfuse.kernels;

/**
 * A compute backend failed or cannot be used. Unchecked; the message says what was expected, what
 * was found and, where it helps, what to do. The CLI maps this family to its "compute backend"
 * exit code.
 */
public class BackendException extends RuntimeException {
    public BackendException(String message) {
        super(message);
    }

    public BackendException(String message, Throwable cause) {
        super(message, cause);
    }
}
