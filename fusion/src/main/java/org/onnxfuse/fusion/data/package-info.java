/**
 * Calibration, evaluation and label data input.
 *
 * <p>Input: NumPy {@code .npy} files (format 1.0, 2.0, 3.0; C or Fortran order) and {@code .npz}
 * archives of them (stored or deflate-compressed entries, keyed by entry name without
 * {@code .npy}). Output: batches of samples (first axis) decoded on demand to row-major
 * {@code float[]} ({@link org.onnxfuse.fusion.data.FloatBatch}), or read exactly for int64 and
 * bool model inputs ({@link org.onnxfuse.fusion.data.IntegerBatch}); the same samples of every
 * input of a model with several as one {@link org.onnxfuse.fusion.data.InputBatch}, keyed by
 * input name; and labels as {@code long[]}.
 *
 * <p>Files and stored {@code .npz} entries are read in place with positional reads into one
 * reusable chunk (not memory-mapped: mapped pages count in the process's resident memory), and
 * compressed entries are inflated batch by batch, so a data set never has to fit in memory.
 * {@link org.onnxfuse.fusion.data.SampleArray#reusedBatches} decodes every batch into the same
 * array, for loops that want no garbage per batch.
 * {@link org.onnxfuse.fusion.data.DataShapes} and {@link org.onnxfuse.fusion.data.Finite} check
 * decoded data against a model's inputs. Every failure a user can cause is a
 * {@link org.onnxfuse.onnx.errors.DataException} with a one-line message naming the file.
 */
package org.onnxfuse.fusion.data;
