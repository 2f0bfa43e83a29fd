package org.onnxfuse.onnx.errors;

/**
 * Every failure a user can cause, each with its own process exit code. The CLI maps
 * {@link OnnxFuseException#code()} to {@link #exitCode()}; scripts can branch on the number.
 * Codes are stable: add new ones, never renumber.
 */
public enum ErrorCode {
    USAGE(2, "usage"),
    FILE_NOT_FOUND(10, "file not found"),
    IS_DIRECTORY(11, "is a directory"),
    READ_FAILED(12, "read failed"),
    TRUNCATED_MODEL(13, "truncated model"),
    NOT_PROTOBUF(14, "not a protobuf file"),
    NOT_A_MODEL(15, "not an ONNX model"),
    CYCLIC_GRAPH(16, "cyclic graph"),
    DUPLICATE_NAME(17, "duplicate tensor name"),
    MISSING_PRODUCER(18, "input without producer"),
    EXTERNAL_DATA_OUTSIDE_FOLDER(19, "external data outside the model's folder"),
    EXTERNAL_DATA_PAST_END(20, "external data past the end of its file"),
    TENSOR_SIZE_MISMATCH(21, "tensor data smaller than declared"),
    EXTERNAL_DATA_MISSING(22, "external data file missing"),
    UNSUPPORTED_TENSOR_TYPE(23, "unsupported tensor data type"),
    INVALID_MODEL(24, "invalid model"),
    TOO_MANY_NODES(25, "too many nodes"),
    UNSUPPORTED_OP(30, "unsupported op"),
    INCOMPATIBLE_PARENTS(31, "parents do not match"),
    DATA_FORMAT(40, "bad data file"),
    DATA_DTYPE(41, "unsupported data type"),
    DATA_SHAPE(42, "data shape does not match the model"),
    DATA_NOT_FINITE(43, "data contains NaN or Inf"),
    OUTPUT_UNWRITABLE(50, "output cannot be written"),
    OUTPUT_IS_INPUT(51, "output would overwrite an input"),
    BACKEND(60, "compute backend failed"),
    NOT_ENOUGH_MEMORY(61, "not enough memory"),
    INTERNAL(70, "internal error");

    private final int exitCode;
    private final String title;

    ErrorCode(int exitCode, String title) {
        this.exitCode = exitCode;
        this.title = title;
    }

    public int exitCode() {
        return exitCode;
    }

    /** Short human name, printed before the message. */
    public String title() {
        return title;
    }
}
