package org.onnxfuse.onnx.errors;

/** Parents that cannot be fused together (different plans, shapes or inputs). */
public class IncompatibleModelsException extends OnnxFuseException {
    public IncompatibleModelsException(ErrorCode code, String message) {
        super(code, message);
    }

    public IncompatibleModelsException(ErrorCode code, String message, Throwable cause) {
        super(code, message, cause);
    }
}
