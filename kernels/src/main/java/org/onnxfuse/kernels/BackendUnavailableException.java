package org.onnxfuse.kernels;

/** The requested device cannot be used on this machine (for example {@code cuda} without a GPU). */
public class BackendUnavailableException extends BackendException {
    public BackendUnavailableException(String message) {
        super(message);
    }

    public BackendUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
