package org.onnxfuse.onnx.ir;

import java.util.Objects;

/**
 * The protobuf message an IR element was read from. The writer starts from it so that fields
 * the IR does not model (unknown fields of newer ONNX versions, training info, functions,
 * sparse initializers, ...) survive a round trip. Only the onnx-io reader and writer look
 * inside; elements built in code have no origin.
 */
public final class ProtoOrigin {
    private final Object message;

    public ProtoOrigin(Object message) {
        this.message = Objects.requireNonNull(message);
    }

    /** The generated protobuf message; cast by onnx-io's reader/writer only. */
    public Object message() {
        return message;
    }
}
