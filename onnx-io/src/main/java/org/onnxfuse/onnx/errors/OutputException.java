package org.onnxfuse.onnx.errors;

/** The output cannot be written where the user asked. */
public class OutputException extends OnnxFuseException {
    public OutputException(ErrorCode code, String message) {
        super(code, message);
    }

    public OutputException(ErrorCode code, String message, Throwable cause) {
        super(code, message, cause);
    }
}
