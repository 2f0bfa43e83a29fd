/**
 * Baseline fusions that onnx-fuse offers next to neuron interpolation, for users and for the
 * benchmarks (ALGORITHM.md section 7): vanilla averaging ({@code average}), weight matching
 * ({@code weight-match}, data-free, Git Re-Basin style) and activation matching / OT fusion
 * ({@code act-match}, data-driven).
 *
 * <p>Input: K >= 2 parent {@link org.onnxfuse.onnx.ir.Model}s that share one level plan (parent 0
 * is the template), any plan the level planner accepts (chains, residual Adds, gates, Concat,
 * depthwise Convs, per-neuron BatchNormalization), and, for {@code act-match}, a calibration
 * {@link org.onnxfuse.fusion.collect.CalibrationData}. Output: one fused Model with parent 0's
 * widths, the template with every level's affine weights replaced (written by
 * {@link org.onnxfuse.fusion.solve.LevelWriter}; a folded BatchNormalization is removed), every
 * per-neuron op's parameters replaced ({@link org.onnxfuse.fusion.solve.NormWriter}) and
 * {@code metadata_props} key {@code onnx-fuse.baseline} naming the method.
 *
 * <p>All three work on each level's fan-in x width matrix ({@link org.onnxfuse.fusion.plan.LevelWeights})
 * and each per-neuron op's affine form ({@link org.onnxfuse.fusion.baseline.ModelWeights}): each
 * parent k >= 1 is aligned to parent 0 by one {@link org.onnxfuse.fusion.baseline.NeuronMap} per
 * neuron space (identity, permutation, or barycentric transport plan), applied wherever the plan
 * says the space appears ({@link org.onnxfuse.fusion.baseline.SpaceAlignment}: the columns of the
 * levels writing it, the input rows of the levels reading it, per-neuron parameters); the aligned
 * matrices are averaged. For a chain every space is one cut, and the results are those of
 * aligning cut by cut. The classes are never moved. Everything is deterministic: no random
 * choices.
 */
package org.onnxfuse.fusion.baseline;
