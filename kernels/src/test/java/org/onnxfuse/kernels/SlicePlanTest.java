package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SlicePlanTest {

    @Test
    void slicesCoverEveryRowExactlyOnce() {
        for (int rows : new int[] {1, 15, 16, 255, 256, 1000, 4097, 100_000}) {
            for (int d : new int[] {1, 64, 65, 300, 4096}) {
                for (boolean upper : new boolean[] {false, true}) {
                    SlicePlan p = SlicePlan.of(rows, d, upper ? d : 7, upper, 132, 256L << 20);
                    assertTrue(p.slices() >= 1 && p.slices() <= SlicePlan.MAX_SLICES, p.toString());
                    assertTrue((long) p.slices() * p.rowsPerSlice() >= rows, p + " rows " + rows);
                    assertTrue((long) (p.slices() - 1) * p.rowsPerSlice() < rows, p + " rows " + rows);
                    assertTrue(p.slices() == 1 || p.rowsPerSlice() % SlicePlan.TILE_K == 0, p.toString());
                }
            }
        }
    }

    @Test
    void smallOutputsWithManySamplesAreSplitAndLargeOnesAreNot() {
        SlicePlan small = SlicePlan.of(100_000, 32, 32, false, 132, 256L << 20);
        assertEquals(SlicePlan.MAX_SLICES, small.slices());
        SlicePlan large = SlicePlan.of(100_000, 4096, 4096, true, 132, 256L << 20);
        assertEquals(1, large.slices());
        assertEquals(0, large.workspaceBytes(4096, 4096));
        SlicePlan fewRows = SlicePlan.of(300, 32, 32, false, 132, 256L << 20);
        assertEquals(2, fewRows.slices());
    }

    @Test
    void workspaceStaysWithinItsLimit() {
        long limit = 8L << 20;
        SlicePlan p = SlicePlan.of(1_000_000, 512, 256, false, 132, limit);
        assertTrue(p.workspaceBytes(512, 256) <= limit, p.toString());
    }
}
