package org.onnxfuse.onnx.errors;

/** A model file cannot be read or is not a valid ONNX model. */
public class ModelFormatException extends OnnxFuseException {
    public ModelFormatException(ErrorCode code, String message) {
        super(code, message);
    }

    public ModelFormatException(ErrorCode code, String message, Throwable cause) {
        super(code, message, cause);
    }
}
