package org.onnxfuse.fusion.train;

import java.util.List;

/**
 * Some rows of a segment's training data: for each of the segment's float inputs, the rows' values
 * (row-major, {@code rows} x that input's values per row), for each of its int64 or bool inputs (a
 * key padding mask: data, not trained) the rows' integers likewise, and the rows' targets
 * (row-major, {@code rows} x target values per row). A row is one calibration sample with all its
 * positions, so that a convolution sees whole images. The arrays belong to the batch: an objective
 * reads them and does not keep them.
 */
public record Batch(int rows, List<float[]> inputs, List<long[]> integers, float[] targets) {
    public Batch {
        if (rows < 1) {
            throw new IllegalArgumentException("batch rows: expected at least 1, found " + rows);
        }
        inputs = List.copyOf(inputs);
        integers = List.copyOf(integers);
        if (inputs.isEmpty()) {
            throw new IllegalArgumentException("batch inputs: expected at least one, found none");
        }
        for (float[] input : inputs) {
            requireWhole(input.length, rows, "input");
        }
        for (long[] input : integers) {
            requireWhole(input.length, rows, "integer input");
        }
        requireWhole(targets.length, rows, "target");
    }

    /** Float inputs only. */
    public Batch(int rows, List<float[]> inputs, float[] targets) {
        this(rows, inputs, List.of(), targets);
    }

    /** The only input of a segment with one. */
    public float[] input() {
        if (inputs.size() != 1 || !integers.isEmpty()) {
            throw new IllegalStateException("batch inputs: expected one, found " + (inputs.size() + integers.size()));
        }
        return inputs.get(0);
    }

    private static void requireWhole(int values, int rows, String what) {
        if (values % rows != 0) {
            throw new IllegalArgumentException(what + " values of a batch: expected a multiple of its " + rows
                    + " rows, found " + values);
        }
    }
}
