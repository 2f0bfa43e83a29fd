package org.onnxfuse.onnx.errors;

/** An op sits where fusion must understand it, and no handler knows it. */
public class UnsupportedOpException extends OnnxFuseException {
    public UnsupportedOpException(ErrorCode code, String message) {
        super(code, message);
    }

    public UnsupportedOpException(ErrorCode code, String message, Throwable cause) {
        super(code, message, cause);
    }
}
