/**
 * Op registry: how each ONNX op type takes part in fusion.
 *
 * <p>Input: single {@link org.onnxfuse.onnx.ir.Node}s of a validated
 * {@link org.onnxfuse.onnx.ir.Graph}. Output: a {@link org.onnxfuse.fusion.ops.OpHandler} per op
 * type saying its {@link org.onnxfuse.fusion.ops.OpRole} (affine, foldable normalisation,
 * elementwise, pooling, shape, constant, output head), the shape of its output, the settings that
 * must agree across parents, and for affine ops the width, fan-in and weights as a fan-in x width
 * matrix ({@link org.onnxfuse.fusion.ops.AffineWeights}). Multi-node patterns that act as one op
 * (the Erf form of GELU) are {@link org.onnxfuse.fusion.ops.OpPattern}s.
 *
 * <p>All handlers are registered in one place, {@link org.onnxfuse.fusion.ops.OpRegistry#standard()};
 * adding support for an op means adding a handler there.
 */
package org.onnxfuse.fusion.ops;
