/**
 * Dense float64 linear algebra for the fusion pipeline, behind one {@link
 * org.onnxfuse.kernels.ComputeBackend} interface chosen at run time ({@link
 * org.onnxfuse.kernels.Backends#open(String, int)}): a CPU backend (OpenBLAS and LAPACK through
 * JavaCPP) and a CUDA backend (JCuda driver API running this project's own kernels, which the
 * {@code native} module compiles to PTX at build time).
 *
 * <p>Input: matrices ({@link org.onnxfuse.kernels.DenseMatrix}, column-major float64) and batches
 * of activations (row-major float32, as ONNX Runtime returns them). Output: products, the
 * sufficient statistics X<sup>T</sup>X, X<sup>T</sup>A, A<sup>T</sup>A of docs/ALGORITHM.md
 * section 3 ({@link org.onnxfuse.kernels.StatisticsAccumulator}), ridge least-squares
 * solutions, the steps of weighted K-means in Gram form for several restarts at once
 * ({@link org.onnxfuse.kernels.GramKMeans}) and the optimiser's elementwise updates of float32
 * parameters ({@link org.onnxfuse.kernels.OptimizerSteps}). This package knows nothing about ONNX.
 *
 * <p>Failures are unchecked {@link org.onnxfuse.kernels.BackendException}s.
 */
package org.onnxfuse.kernels;
