/**
 * Activation collection: runs parents and the fused-so-far model in ONNX Runtime on calibration
 * batches and streams each level's sufficient statistics.
 *
 * <p>Input: the parents' {@link org.onnxfuse.onnx.ir.Model}s and {@link org.onnxfuse.fusion.plan.LevelPlan}s,
 * the fused model with the levels before l already written, {@link org.onnxfuse.fusion.collect.CalibrationData}
 * (one array, or one per model input: {@link org.onnxfuse.fusion.collect.InputArrays}; every run is
 * fed all inputs by name) and a {@link org.onnxfuse.kernels.ComputeBackend}. Output: one immutable
 * {@link org.onnxfuse.fusion.collect.LevelStatistics} per level: S_xx = X<sup>T</sup>X, S_xa =
 * X<sup>T</sup>A and S_aa = A<sup>T</sup>A (ALGORITHM.md section 3) where X holds the fused
 * affine op's input rows ({@link org.onnxfuse.fusion.collect.Im2Col} for Conv, plus a ones column
 * when the level has a bias) and A = [A_1 | ... | A_K] the parents' cut activations with the
 * neuron axis last ({@link org.onnxfuse.fusion.collect.CutRows}). Two batches are held at a time
 * (the one accumulated and the next, made meanwhile on an inference thread:
 * {@link org.onnxfuse.fusion.collect.BatchPipeline}), so memory does not grow with the number of
 * samples.
 *
 * <p>Native resources: every {@link org.onnxfuse.fusion.collect.OrtRunner} owns one session; every
 * ONNX Runtime tensor and result is closed inside the call that created it.
 */
package org.onnxfuse.fusion.collect;
