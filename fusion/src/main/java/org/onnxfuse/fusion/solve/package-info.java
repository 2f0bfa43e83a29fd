/**
 * Write-back and fit error of the linear variant (the least squares itself is solved once per
 * level by {@link org.onnxfuse.fusion.group.ProjectedTargets}).
 *
 * <p>Input: a level's fused weights as a fan-in x k {@link org.onnxfuse.kernels.DenseMatrix}
 * (rows: input features in the order of {@link org.onnxfuse.fusion.plan.LevelWeights}, then the
 * bias; columns: fused neurons). Output: the fused graph with the level's affine op rewritten in
 * its own layout ({@link org.onnxfuse.fusion.solve.LevelWriter}), and
 * {@link org.onnxfuse.fusion.solve.FitError}, the fit error computed from
 * sufficient statistics only.
 */
package org.onnxfuse.fusion.solve;
