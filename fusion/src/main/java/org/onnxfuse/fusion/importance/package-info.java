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
 * gradient rule per op family ({@code GradientRules}); {@link org.onnxfuse.fusion.importance.GradientRunner}
 * owns the ONNX Runtime session that runs it.
 *
 * <p>The same rules give the gradients with respect to parameters, for training a segment
 * (the gradient variant of neuron interpolation): input, a model, the values a segment starts and ends
 * at, the initializers to train and a {@link org.onnxfuse.fusion.importance.SegmentLoss}; output,
 * {@link org.onnxfuse.fusion.importance.GradientGraph#forParameters a model} fed the segment's
 * inputs, the parameters and the loss's inputs that returns the loss, the segment's outputs and
 * dL/dp for every parameter, run step by step by
 * {@link org.onnxfuse.fusion.importance.ParameterGradientRunner}.
 */
package org.onnxfuse.fusion.importance;
