/**
 * The only bridge between ONNX files and the {@link org.onnxfuse.onnx.ir} graph IR.
 *
 * <p>Input: an {@code .onnx} file (plus external-data side files in its folder) or its bytes.
 * {@link org.onnxfuse.onnx.io.OnnxReader} checks it (truncation, wire format, model structure,
 * tensor sizes, external-data locations) and returns an immutable {@link org.onnxfuse.onnx.ir.Model}
 * whose tensors decode lazily. Output: {@link org.onnxfuse.onnx.io.OnnxWriter} writes a Model
 * back, atomically, keeping every field the IR does not model, with tensor data inline or in a
 * side file as {@link org.onnxfuse.onnx.io.WriteOptions} say. No other package imports the
 * generated protobuf classes ({@code ai.onnx.proto.OnnxMl}).
 */
package org.onnxfuse.onnx.io;
