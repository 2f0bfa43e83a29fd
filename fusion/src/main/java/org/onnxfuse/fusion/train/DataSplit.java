package org.onnxfuse.fusion.train;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.onnxfuse.fusion.pipeline.InvalidSettingException;

/**
 * The 80/20 train/validation split of a segment's rows: a seeded shuffle of 0..n-1, whose first
 * max(1, round(0.2 n)) rows validate and the rest train; each part is kept in ascending row order
 * (a streaming source reads forward). The same n and seed give the same split on every machine
 * ({@link SplittableRandom}'s sequence is specified).
 */
public final class DataSplit {
    public static final double VALIDATION_FRACTION = 0.2;

    private final int[] train;
    private final int[] validation;

    private DataSplit(int[] train, int[] validation) {
        this.train = train;
        this.validation = validation;
    }

    /**
     * @throws InvalidSettingException for fewer than 2 rows (nothing to validate on)
     */
    public static DataSplit of(int rows, long seed) {
        if (rows < 2) {
            throw new InvalidSettingException("calibration rows for training (--samples): expected at least 2, some"
                    + " to train on and some to validate on, found " + rows);
        }
        int[] order = identity(rows);
        shuffle(order, new SplittableRandom(seed));
        int validationRows = (int) Math.max(1, Math.round(VALIDATION_FRACTION * rows));
        int[] validation = Arrays.copyOfRange(order, 0, validationRows);
        int[] train = Arrays.copyOfRange(order, validationRows, rows);
        Arrays.sort(validation);
        Arrays.sort(train);
        return new DataSplit(train, validation);
    }

    /** The training rows, ascending. */
    public int[] train() {
        return train.clone();
    }

    /** The validation rows, ascending. */
    public int[] validation() {
        return validation.clone();
    }

    public int trainSize() {
        return train.length;
    }

    public int validationSize() {
        return validation.length;
    }

    static int[] identity(int n) {
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        return order;
    }

    /** Fisher-Yates, in place. */
    static void shuffle(int[] values, SplittableRandom random) {
        for (int i = values.length - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = values[i];
            values[i] = values[j];
            values[j] = t;
        }
    }
}
