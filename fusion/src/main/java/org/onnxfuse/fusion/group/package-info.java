/**
 * Grouping stage of the linear variant (docs/ALGORITHM.md sections 3 and 5), working only on
 * sufficient statistics, never on samples.
 *
 * <p>Input: one level's {@link org.onnxfuse.kernels.SufficientStatistics} (S_xx = X<sup>T</sup>X,
 * S_xa = X<sup>T</sup>A, S_aa = A<sup>T</sup>A, where the columns of A are parent 0's neurons, then
 * parent 1's, ...), the parents' widths ({@link org.onnxfuse.fusion.group.NeuronLayout}), the
 * neurons' importance scores and a {@link org.onnxfuse.fusion.group.GroupingConfig}.
 *
 * <p>Output: a {@link org.onnxfuse.fusion.group.Grouping}: which fused neuron each parent neuron
 * went to, each fused neuron's member weights u_g, the fused weights W U (d x k, column g is fused
 * neuron g's weights; the last row is the bias when X carried a ones column) and the grouping cost.
 *
 * <p>Flow: {@link org.onnxfuse.fusion.group.ProjectedTargets} solves the ridge least squares once
 * (W, and the m x m matrices every distance needs); then one of
 * {@link org.onnxfuse.fusion.group.KMeansGrouping} (KF, any number of parents),
 * {@link org.onnxfuse.fusion.group.HungarianGrouping} (HF, two parents) or
 * {@link org.onnxfuse.fusion.group.LastLevelTargets} (the class layer, never clustered).
 * Importance normalisation lives in {@link org.onnxfuse.fusion.group.ImportanceScores}.
 */
package org.onnxfuse.fusion.group;
