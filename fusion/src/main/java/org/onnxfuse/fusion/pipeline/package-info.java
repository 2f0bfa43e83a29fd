/**
 * The linear fusion pipeline and its library API.
 *
 * <p>Input: K >= 2 parent models (files or in-memory {@link org.onnxfuse.onnx.ir.Model}s) with
 * compatible plans, calibration data and settings, through
 * {@link org.onnxfuse.fusion.pipeline.Fusion#builder()}; the settings are one validated
 * {@link org.onnxfuse.fusion.pipeline.FusionConfig}. Output: a
 * {@link org.onnxfuse.fusion.pipeline.FusionResult}: the fused model (parent 0's graph, same
 * inputs and outputs, every level rewritten) and one
 * {@link org.onnxfuse.fusion.pipeline.LevelReport} per level (width, fit error, grouping cost,
 * time per stage); its {@code metadata_props} carry the provenance
 * ({@link org.onnxfuse.fusion.pipeline.Provenance}). Each level: collect ({@code fusion.collect}),
 * least squares (with the parents' weights as ridge centre, {@link org.onnxfuse.fusion.pipeline.Priors})
 * and grouping ({@code fusion.group}), write back ({@code fusion.solve}). Progress goes to a
 * {@link org.onnxfuse.fusion.pipeline.FusionProgress}.
 */
package org.onnxfuse.fusion.pipeline;
