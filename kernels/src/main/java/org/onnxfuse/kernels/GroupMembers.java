package org.onnxfuse.kernels;

import java.util.Arrays;

/**
 * Each group's members in ascending order, in one array: group g's are {@code members[start[g] ..
 * start[g + 1])} (CSR), the order in which K-means sums a group's members on every backend;
 * {@code groups} lists the groups kept, in ascending order.
 */
public record GroupMembers(int[] start, int[] members, int[] groups) {

    /**
     * From each neuron's group ({@code owner[j]}, -1: none) among k, keeping the members of the
     * groups {@code only} marks (null: of every group); the others are left empty.
     */
    public static GroupMembers of(int[] owner, int k, boolean[] only) {
        int[] start = new int[k + 1];
        for (int g : owner) {
            if (g >= 0 && (only == null || only[g])) {
                start[g + 1]++;
            }
        }
        for (int g = 0; g < k; g++) {
            start[g + 1] += start[g];
        }
        int[] members = new int[start[k]];
        int[] filled = Arrays.copyOf(start, k);
        for (int j = 0; j < owner.length; j++) {
            int g = owner[j];
            if (g >= 0 && (only == null || only[g])) {
                members[filled[g]++] = j;
            }
        }
        int kept = 0;
        for (int g = 0; g < k; g++) {
            kept += only == null || only[g] ? 1 : 0;
        }
        int[] groups = new int[kept];
        for (int g = 0, at = 0; g < k; g++) {
            if (only == null || only[g]) {
                groups[at++] = g;
            }
        }
        return new GroupMembers(start, members, groups);
    }
}
