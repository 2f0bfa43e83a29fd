package org.onnxfuse.onnx.errors;

/** Calibration, evaluation or label data that is unreadable or does not fit the model. */
public class DataException extends OnnxFuseException {
    public DataException(ErrorCode code, String message) {
        super(code, message);
    }

    public DataException(ErrorCode code, String message, Throwable cause) {
        super(code, message, cause);
    }
}
