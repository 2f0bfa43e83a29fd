/**
 * Evaluation of models on data: ONNX Runtime inference in batches, accuracy and the ensemble
 * reference.
 *
 * <p>Input: {@link org.onnxfuse.onnx.ir.Model}s (parents or fused models), a
 * {@link org.onnxfuse.fusion.data.SampleArray} of inputs and optionally one of integer labels.
 * Output: per-batch output tensors ({@link org.onnxfuse.fusion.evaluate.BatchOutputs}, the logits
 * and any intermediate tensors asked for), {@link org.onnxfuse.fusion.evaluate.Accuracy} of one
 * model, and the accuracy of the {@link org.onnxfuse.fusion.evaluate.Ensemble} of several (argmax
 * of the mean softmax: a reference point, not a model).
 *
 * <p>Native resources: a {@link org.onnxfuse.fusion.evaluate.ModelEvaluator} owns one ONNX
 * Runtime session until closed; every ONNX Runtime tensor and result is closed inside the call
 * that created it, and outputs are copied into Java arrays. Only one batch is decoded at a time.
 */
package org.onnxfuse.fusion.evaluate;
