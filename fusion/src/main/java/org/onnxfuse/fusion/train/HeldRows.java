package org.onnxfuse.fusion.train;

import java.util.ArrayList;
import java.util.List;

/**
 * Rows held in memory once: every input and the targets as row-major arrays (float, or long for an
 * int64 or bool input). Memory: the arrays themselves, 4 n (sum of float input widths + target width)
 * + 8 n (sum of integer input widths) bytes for n rows, shared with the caller (not copied); each
 * {@link #batch} allocates only its own rows.
 */
public final class HeldRows implements RowSource {
    private final int rows;
    private final List<float[]> inputs;
    private final int[] inputWidths;
    private final List<long[]> integers;
    private final int[] integerWidths;
    private final float[] targets;
    private final int targetWidth;

    /**
     * @param rows     number of rows n
     * @param inputs   per float segment input, n x its width values, row-major
     * @param integers per int64 or bool segment input, n x its width values, row-major
     * @param targets  n x target width values, row-major
     */
    public HeldRows(int rows, List<float[]> inputs, List<long[]> integers, float[] targets) {
        if (rows < 1) {
            throw new IllegalArgumentException("rows: expected at least 1, found " + rows);
        }
        this.rows = rows;
        this.inputs = List.copyOf(inputs);
        if (this.inputs.isEmpty()) {
            throw new IllegalArgumentException("inputs: expected at least one, found none");
        }
        this.inputWidths = new int[this.inputs.size()];
        for (int i = 0; i < inputWidths.length; i++) {
            inputWidths[i] = width(this.inputs.get(i).length, rows, "input " + i);
        }
        this.integers = List.copyOf(integers);
        this.integerWidths = new int[this.integers.size()];
        for (int i = 0; i < integerWidths.length; i++) {
            integerWidths[i] = width(this.integers.get(i).length, rows, "integer input " + i);
        }
        this.targets = targets;
        this.targetWidth = width(targets.length, rows, "targets");
    }

    /** Float inputs only. */
    public HeldRows(int rows, List<float[]> inputs, float[] targets) {
        this(rows, inputs, List.of(), targets);
    }

    /** One input. */
    public HeldRows(int rows, float[] inputs, float[] targets) {
        this(rows, List.of(inputs), targets);
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public Batch batch(int[] rowIndices) {
        List<float[]> batchInputs = new ArrayList<>(inputs.size());
        for (int i = 0; i < inputs.size(); i++) {
            float[] out = new float[rowIndices.length * inputWidths[i]];
            gather(inputs.get(i), inputWidths[i], rowIndices, out);
            batchInputs.add(out);
        }
        List<long[]> batchIntegers = new ArrayList<>(integers.size());
        for (int i = 0; i < integers.size(); i++) {
            long[] out = new long[rowIndices.length * integerWidths[i]];
            gather(integers.get(i), integerWidths[i], rowIndices, out);
            batchIntegers.add(out);
        }
        float[] batchTargets = new float[rowIndices.length * targetWidth];
        gather(targets, targetWidth, rowIndices, batchTargets);
        return new Batch(rowIndices.length, batchInputs, batchIntegers, batchTargets);
    }

    /** Copies rows {@code rowIndices} of {@code all} (an array of {@code width} values a row) into {@code out}. */
    private void gather(Object all, int width, int[] rowIndices, Object out) {
        for (int r = 0; r < rowIndices.length; r++) {
            int row = rowIndices[r];
            if (row < 0 || row >= rows) {
                throw new IndexOutOfBoundsException("row: expected 0 to " + (rows - 1) + ", found " + row);
            }
            System.arraycopy(all, row * width, out, r * width, width);
        }
    }

    private static int width(int values, int rows, String what) {
        if (values % rows != 0 || values == 0) {
            throw new IllegalArgumentException(what + ": expected a positive multiple of " + rows + " rows of values,"
                    + " found " + values + " values");
        }
        return values / rows;
    }
}
