/**
 * Neuron importance: backward passes generated as ONNX graphs and run in ONNX Runtime
 * (DESIGN.md, "Gradients"; ALGORITHM.md section 6).
 *
 * <p>Input: the parents' {@link org.onnxfuse.onnx.ir.Model}s with their level cuts
 * ({@link org.onnxfuse.fusion.plan.LevelPlan#cuts()}), calibration batches and their labels.
 * Output: per level, per neuron of the cut, importance scores built from the cut's activations,
 * the gradient of F = sum over samples of the logit of the sample's label with respect to the
 * cut ({@link org.onnxfuse.fusion.importance.GradientGraph.Rule#GRADIENT}) or the DeepLIFT
 * rescale multipliers and the activations on a zero baseline
 * ({@link org.onnxfuse.fusion.importance.GradientGraph.Rule#RESCALE}).
 *
 * <p>{@link org.onnxfuse.fusion.importance.GradientGraph} writes the backward graph from one
 * gradient rule per op; {@link org.onnxfuse.fusion.importance.GradientRunner} owns the ONNX
 * Runtime session that runs it.
 */
package org.onnxfuse.fusion.importance;
