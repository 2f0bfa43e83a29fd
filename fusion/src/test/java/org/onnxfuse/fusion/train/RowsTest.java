package org.onnxfuse.fusion.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.pipeline.InvalidSettingException;

/** The split, the mini-batches and the held rows. */
class RowsTest {

    @Test
    void theSplitIsEightyTwentyDisjointAndComplete() {
        DataSplit split = DataSplit.of(1000, 3);
        assertEquals(800, split.trainSize());
        assertEquals(200, split.validationSize());
        int[] all = IntStream.concat(Arrays.stream(split.train()), Arrays.stream(split.validation())).sorted()
                .toArray();
        assertArrayEquals(DataSplit.identity(1000), all);
        assertTrue(isAscending(split.train()) && isAscending(split.validation()));
    }

    @Test
    void theSplitIsDeterministicPerSeed() {
        assertArrayEquals(DataSplit.of(500, 42).validation(), DataSplit.of(500, 42).validation());
        assertFalse(Arrays.equals(DataSplit.of(500, 42).validation(), DataSplit.of(500, 43).validation()));
    }

    /** max(1, round(0.2 n)) rows validate. */
    @Test
    void smallSplitsKeepOneValidationRow() {
        assertEquals(1, DataSplit.of(7, 0).validationSize());
        assertEquals(6, DataSplit.of(7, 0).trainSize());
        assertEquals(1, DataSplit.of(2, 0).validationSize());
        assertEquals(2, DataSplit.of(12, 0).validationSize());
        assertEquals("calibration rows for training (--samples): expected at least 2, some to train on and some to"
                + " validate on, found 1", assertThrows(InvalidSettingException.class, () -> DataSplit.of(1, 0))
                .getMessage());
    }

    @Test
    void everyEpochServesEveryTrainingRowOnceInANewOrder() {
        int[] train = DataSplit.of(100, 1).train();
        MiniBatches batches = new MiniBatches(train, 32, new SplittableRandom(9));
        List<int[]> first = batches.nextEpoch();
        List<int[]> second = batches.nextEpoch();
        assertEquals(List.of(32, 32, 16), first.stream().map(b -> b.length).toList());
        assertArrayEquals(train, first.stream().flatMapToInt(Arrays::stream).sorted().toArray());
        assertArrayEquals(train, second.stream().flatMapToInt(Arrays::stream).sorted().toArray());
        assertFalse(Arrays.equals(first.get(0), second.get(0)));
        List<int[]> again = new MiniBatches(train, 32, new SplittableRandom(9)).nextEpoch();
        for (int i = 0; i < first.size(); i++) {
            assertArrayEquals(first.get(i), again.get(i));
        }
    }

    @Test
    void heldRowsGatherTheAskedRowsOfEveryInputInOrder() {
        float[] x = {0, 1, 10, 11, 20, 21};
        float[] mask = {5, 6, 7};
        float[] t = {-1, -2, -3};
        Batch batch = new HeldRows(3, List.of(x, mask), t).batch(new int[] {2, 0});
        assertEquals(2, batch.rows());
        assertArrayEquals(new float[] {20, 21, 0, 1}, batch.inputs().get(0));
        assertArrayEquals(new float[] {7, 5}, batch.inputs().get(1));
        assertArrayEquals(new float[] {-3, -1}, batch.targets());
    }

    @Test
    void heldRowsServeIntegerInputsByRowAsTheyAre() {
        // a key padding mask of int64 values beyond float32's exact integers, next to a float input
        long big = (1L << 40) + 1;
        long[] mask = {1, 0, big, 0, 1, big + 2};
        Batch batch = new HeldRows(3, List.of(new float[] {0, 1, 2}), List.of(mask), new float[] {-1, -2, -3})
                .batch(new int[] {2, 1});
        assertArrayEquals(new float[] {2, 1}, batch.inputs().get(0));
        assertArrayEquals(new long[] {1, big + 2, big, 0}, batch.integers().get(0));
        assertArrayEquals(new float[] {-3, -2}, batch.targets());
        assertThrows(IllegalArgumentException.class, () -> new HeldRows(3, List.of(new float[3]), List.of(new long[4]),
                new float[3]));
    }

    @Test
    void heldRowsRefuseArraysThatAreNotWholeRows() {
        assertThrows(IllegalArgumentException.class, () -> new HeldRows(3, new float[7], new float[3]));
        assertThrows(IllegalArgumentException.class, () -> new HeldRows(3, new float[6], new float[4]));
        assertThrows(IndexOutOfBoundsException.class,
                () -> new HeldRows(3, new float[6], new float[3]).batch(new int[] {3}));
    }

    private static boolean isAscending(int[] values) {
        for (int i = 1; i < values.length; i++) {
            if (values[i] <= values[i - 1]) {
                return false;
            }
        }
        return true;
    }
}
