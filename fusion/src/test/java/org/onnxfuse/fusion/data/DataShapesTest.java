package org.onnxfuse.fusion.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;

class DataShapesTest {

    @Test
    void matchingShapesPass() {
        DataShapes.check("calib.npy", new long[] {400, 1, 28, 28}, new long[] {-1, 1, 28, 28}, "input");
        DataShapes.check("calib.npy", new long[] {400, 1, 28, 28}, new long[] {8, 1, 28, 28}, "input");
        DataShapes.check("calib.npy", new long[] {5, 3, 17}, new long[] {0, 3, -1}, "tokens");
        DataShapes.check("calib.npy", new long[] {5}, new long[] {-1}, "x");
    }

    @Test
    void mismatchNamesBothShapes() {
        DataException e = Checks.fails(ErrorCode.DATA_SHAPE, () -> DataShapes.check("calib.npy",
                new long[] {400, 784}, new long[] {-1, 1, 28, 28}, "input"));
        assertEquals("calib.npy: shape [400, 784] does not match model input 'input' [batch, 1, 28, 28];"
                + " expected [N, 1, 28, 28]", e.getMessage());
        Checks.fails(ErrorCode.DATA_SHAPE, () -> DataShapes.check("d.npz:x",
                new long[] {10, 3, 32, 31}, new long[] {-1, 3, -1, 32}, "x"),
                "shape [10, 3, 32, 31]", "'x' [batch, 3, ?, 32]", "expected [N, 3, ?, 32]");
        Checks.fails(ErrorCode.DATA_SHAPE, () -> DataShapes.check("s.npy", new long[0],
                new long[] {-1, 4}, "x"), "shape []");
    }

    @Test
    void emptyDataIsRejected() {
        Checks.fails(ErrorCode.DATA_SHAPE, () -> DataShapes.check("e.npy", new long[] {0, 4},
                new long[] {-1, 4}, "x"), "no samples");
    }

    @Test
    void labels() {
        DataShapes.checkLabels("y.npy", new long[] {400}, 400);
        DataShapes.checkLabels("y.npy", new long[] {400, 1}, 400);
        Checks.fails(ErrorCode.DATA_SHAPE, () -> DataShapes.checkLabels("y.npy", new long[] {300}, 400),
                "labels of shape [300]", "expected [400] or [400, 1]");
        Checks.fails(ErrorCode.DATA_SHAPE, () -> DataShapes.checkLabels("y.npy", new long[] {400, 10}, 400),
                "[400, 10]");
        assertThrows(DataException.class, () -> DataShapes.checkLabels("y.npy", new long[0], 1));
    }
}
