/**
 * Baseline fusions that onnx-fuse offers next to neuron interpolation, for users and for the
 * benchmarks (ALGORITHM.md section 7): vanilla averaging ({@code average}), weight matching
 * ({@code weight-match}, data-free, Git Re-Basin style) and activation matching / OT fusion
 * ({@code act-match}, data-driven).
 *
 * <p>Input: K >= 2 parent {@link org.onnxfuse.onnx.ir.Model}s that share one level plan (parent 0
 * is the template) and, for {@code act-match}, a calibration
 * {@link org.onnxfuse.fusion.collect.CalibrationData}. Output: one fused Model, the template with every
 * level's affine weights replaced (written by {@link org.onnxfuse.fusion.solve.LevelWriter}; a
 * folded BatchNormalization is removed) and {@code metadata_props} key
 * {@code onnx-fuse.baseline} naming the method.
 *
 * <p>All three work on each level's fan-in x width matrix ({@link org.onnxfuse.fusion.plan.LevelWeights}):
 * each parent k >= 1 is aligned to parent 0 by a {@link org.onnxfuse.fusion.baseline.NeuronMap}
 * per cut (identity, permutation, or barycentric transport plan), applied to the level's columns
 * and to the next level's input rows; the aligned matrices are averaged. The last level's classes
 * are never moved. Everything is deterministic: no random choices.
 */
package org.onnxfuse.fusion.baseline;
