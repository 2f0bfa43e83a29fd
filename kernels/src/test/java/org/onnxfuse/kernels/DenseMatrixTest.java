package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class DenseMatrixTest {

    @Test
    void storesColumnMajor() {
        DenseMatrix m = DenseMatrix.fromRows(new double[][] {{1, 2, 3}, {4, 5, 6}});
        assertEquals(2, m.rows());
        assertEquals(3, m.cols());
        assertArrayEquals(new double[] {1, 4, 2, 5, 3, 6}, m.toColumnMajor());
        assertArrayEquals(new double[] {1, 2, 3, 4, 5, 6}, m.toRowMajor());
        assertEquals(6.0, m.get(1, 2));
        assertEquals(m, DenseMatrix.fromRowMajor(2, 3, new double[] {1, 2, 3, 4, 5, 6}));
        assertEquals(m, new DenseMatrix(2, 3, new double[] {1, 4, 2, 5, 3, 6}));
    }

    @Test
    void isNotChangedThroughArraysPassedInOrOut() {
        double[] data = {1, 2, 3, 4};
        DenseMatrix m = new DenseMatrix(2, 2, data);
        data[0] = 99;
        m.toColumnMajor()[1] = 99;
        assertArrayEquals(new double[] {1, 2, 3, 4}, m.toColumnMajor());
    }

    @Test
    void aHandedOverArrayIsTakenAsIsNotCopied() {
        double[] filled = {1, 2, 3, 4, 5, 6};
        DenseMatrix m = DenseMatrix.handedOver(2, 3, filled);
        assertSame(filled, m.data(), "no second d x m array while a level's prior is built");
        assertEquals(new DenseMatrix(2, 3, new double[] {1, 2, 3, 4, 5, 6}), m);
        assertThrows(IllegalArgumentException.class, () -> DenseMatrix.handedOver(2, 2, filled));
        assertThrows(NullPointerException.class, () -> DenseMatrix.handedOver(0, 0, null));
    }

    @Test
    void transposeAndIdentity() {
        DenseMatrix m = DenseMatrix.fromRows(new double[][] {{1, 2, 3}, {4, 5, 6}});
        assertEquals(DenseMatrix.fromRows(new double[][] {{1, 4}, {2, 5}, {3, 6}}), m.transpose());
        assertEquals(DenseMatrix.fromRows(new double[][] {{1, 0}, {0, 1}}), DenseMatrix.identity(2));
        assertEquals(0.0, DenseMatrix.zeros(3, 0).maxAbs());
    }

    @Test
    void rejectsWrongSizesWithTheExpectedAndFoundCounts() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new DenseMatrix(2, 3, new double[5]));
        assertTrue(e.getMessage().contains("needs 6 elements, found 5"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> DenseMatrix.zeros(-1, 2));
        assertThrows(IllegalArgumentException.class, () -> DenseMatrix.zeros(1 << 16, 1 << 16));
        assertThrows(IllegalArgumentException.class, () -> DenseMatrix.fromRows(new double[][] {{1, 2}, {3}}));
        assertThrows(IndexOutOfBoundsException.class, () -> DenseMatrix.zeros(2, 2).get(2, 0));
    }

    @Test
    void maxAbsDifferenceSeesNaN() {
        DenseMatrix a = new DenseMatrix(1, 2, new double[] {0, Double.NaN});
        assertTrue(Double.isNaN(a.maxAbsDifference(DenseMatrix.zeros(1, 2))));
    }
}
