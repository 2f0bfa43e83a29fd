package org.onnxfuse.kernels;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits indices 0..count-1 into at most {@code parts} contiguous runs of near-equal length, one
 * task each, for {@link ComputeBackend#runTasks}: which index lands in which run depends on the
 * counts only, and each run is worked in ascending order, so what the tasks compute does not depend
 * on how many threads run them.
 */
public final class ContiguousRuns {
    private ContiguousRuns() {
    }

    /** Work on the indices [from, to). */
    @FunctionalInterface
    public interface Run {
        void run(int from, int to);
    }

    /** At least one task (an empty run when count is 0). */
    public static List<Runnable> tasks(int count, int parts, Run body) {
        int tasks = Math.max(1, Math.min(parts, count));
        List<Runnable> out = new ArrayList<>(tasks);
        for (int w = 0; w < tasks; w++) {
            int from = (int) ((long) count * w / tasks);
            int to = (int) ((long) count * (w + 1) / tasks);
            out.add(() -> body.run(from, to));
        }
        return out;
    }
}
