package org.onnxfuse.fusion.group;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class HeadAssignmentTest {
    @Test
    void wholeHeadsAreMatchedEvenWhereSingleNeuronsWouldMixThem() {
        // 2 heads of 2. Unconstrained, rows 0 and 2 swap columns (total 0), mixing the heads; whole heads keep
        // their places (total 2), as swapping them costs 18
        double[][] cost = {
            {1, 9, 0, 9},
            {9, 0, 9, 9},
            {0, 9, 1, 9},
            {9, 9, 9, 0},
        };
        assertArrayEquals(new int[] {0, 1, 2, 3}, HeadAssignment.solve(cost, 2));
        assertArrayEquals(new int[] {2, 1, 0, 3}, LinearAssignment.solve(cost), "the unconstrained optimum");
    }

    @Test
    void dimsAreReorderedWithinAHead() {
        double[][] cost = {
            {9, 9, 9, 0},
            {9, 9, 0, 9},
            {0, 9, 9, 9},
            {9, 0, 9, 9},
        };
        assertArrayEquals(new int[] {3, 2, 0, 1}, HeadAssignment.solve(cost, 2));
    }

    @Test
    void spacesSharingAHeadOrderAreMatchedOnTheirSummedCosts() {
        // alone, the first space keeps its heads (0 against 4) and the second swaps them (0 against 36);
        // together they swap (4 + 0 against 0 + 36)
        double[][] first = {
            {0, 9, 1, 9},
            {9, 0, 9, 1},
            {1, 9, 0, 9},
            {9, 1, 9, 0},
        };
        double[][] second = {
            {9, 9, 0, 9},
            {9, 9, 9, 0},
            {0, 9, 9, 9},
            {9, 0, 9, 9},
        };
        assertArrayEquals(new int[] {0, 1, 2, 3}, HeadAssignment.solve(first, 2));
        assertArrayEquals(new int[] {2, 3, 0, 1}, HeadAssignment.solve(second, 2));
        List<int[]> both = HeadAssignment.solve(List.of(first, second), 2);
        assertArrayEquals(new int[] {2, 3, 0, 1}, both.get(0));
        assertArrayEquals(new int[] {2, 3, 0, 1}, both.get(1));
    }

    @Test
    void aWidthThatIsNotWholeHeadsIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> HeadAssignment.solve(new double[3][3], 2));
    }
}
