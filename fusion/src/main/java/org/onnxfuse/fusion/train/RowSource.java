package org.onnxfuse.fusion.train;

/**
 * The rows a segment trains on, served a batch at a time: an implementation holds the calibration
 * rows once ({@link HeldRows}) or produces each batch when asked (recomputing the fused model's
 * input to the segment, reading from disk), so that no epoch copies the data set. Calls come from
 * one thread.
 */
public interface RowSource {

    /** How many rows there are; rows are numbered 0 to rows() - 1. */
    int rows();

    /** The rows {@code rowIndices}, in that order. */
    Batch batch(int[] rowIndices);
}
