/**
 * Training one fused segment to reproduce its targets: the loop of the gradient variant
 * (docs/ALGORITHM.md section 5; the specification's section 4, step 4).
 *
 * <p>Input: a segment's {@link org.onnxfuse.fusion.train.Objective} (its loss and parameter
 * gradients on a {@link org.onnxfuse.fusion.train.Batch}), the starting values of its parameters
 * (described by a {@link org.onnxfuse.fusion.train.ParameterLayout}), its rows through a
 * {@link org.onnxfuse.fusion.train.RowSource} and one validated
 * {@link org.onnxfuse.fusion.train.TrainingSettings}. Output: a
 * {@link org.onnxfuse.fusion.train.TrainingOutcome}, the parameters of the epoch with the best
 * validation loss and a {@link org.onnxfuse.fusion.train.TrainingResult} for the report (epochs
 * run, best epoch, best validation loss, learning rate and the range test's sweep, time).
 * {@link org.onnxfuse.fusion.train.Trainer} runs the loop: 80/20 split, seeded per-epoch
 * shuffles, Adam or SGD, early stopping with patience, learning rate auto; progress goes to a
 * {@link org.onnxfuse.fusion.train.TrainingProgress} per epoch.
 *
 * <p>The optimiser steps are {@link org.onnxfuse.kernels.OptimizerSteps} calls on host
 * {@code float[]}s: the trainer uses the Java loops ({@code OptimizerSteps.HOST}) with every backend.
 * An elementwise update is memory-bound, so the JIT-compiled loop runs near memory speed on the CPU,
 * far below the cost of the objective's forward and backward passes, while a device step pays an
 * upload and a download of parameters, gradients and state every step. The compute backends
 * implement the same steps (CUDA: {@code optimizer.cu}, bit-identical to the loops) for the day the
 * parameters, gradients and moments stay on the device between steps: that needs the objective to
 * bind device tensors (ONNX Runtime's IO binding with CUDA memory, whose GPU build needs CUDA 12
 * libraries the GPU machines lack); {@code Optimizer.create} takes the steps to use.
 *
 * <p>How it will be glued in (issue 8, items 2 and 3): the gradient graphs provide an
 * {@code Objective} per segment (the segment's forward, the importance-weighted MSE to the grouped
 * targets, the backward; parameters fed as inputs, gradients read as outputs), closed when the
 * segment is done; the level loop builds a {@code RowSource} of the segment's input (the fused
 * model so far on the calibration data) and its targets, held once or computed per batch; the
 * command line's {@code --epochs --lr --optimizer --weight-decay --patience} build the
 * {@code TrainingSettings} (seed from {@code --seed}), which
 * {@link org.onnxfuse.fusion.pipeline.FusionConfig} records in the provenance; the trained values
 * are written back to the segment's initializers by name and the {@code TrainingResult} goes into
 * the level's report. Nothing outside this package calls it yet.
 */
package org.onnxfuse.fusion.train;
