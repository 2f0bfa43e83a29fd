package org.onnxfuse.kernels;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadFactory;

/**
 * Runs single-threaded BLAS calls on fixed blocks of an output, {@code threads} at a time. Each
 * block is computed by one thread with OpenBLAS's single-threaded driver, and the blocks depend
 * only on the problem's size (never on the thread count), so every output value comes out of the
 * same operations in the same order whatever the thread count: the results are bit for bit the
 * same with 1, 2 or 64 threads. OpenBLAS's own threading splits the work by the thread count and
 * rounds differently with each (measured: X<sup>T</sup>A and C = S_xa<sup>T</sup>W differed in up
 * to 80 % of their values between 1 and 3 threads, LAPACK's solve in most of them).
 * Owns its worker threads; closing stops them.
 */
final class BlockTasks implements AutoCloseable {
    /**
     * Output columns per block. Large enough for the BLAS kernels to run at full speed (a 128-column
     * slice of a 785 x 1024 x 3000 product ran as fast as OpenBLAS's own threads, measured), small
     * enough to share a few hundred columns between the threads.
     */
    static final int COLUMNS = 128;

    private final int threads;
    private ExecutorService pool;

    BlockTasks(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("expected >= 1 thread, found " + threads);
        }
        this.threads = threads;
    }

    int threads() {
        return threads;
    }

    /** Runs every task (each a single-threaded BLAS call on its own block) and waits for all. */
    void run(List<Runnable> tasks) {
        OpenBlas.useOneThreadPerCall();
        if (threads == 1 || tasks.size() == 1) {
            tasks.forEach(Runnable::run);
            return;
        }
        List<Future<?>> running = new ArrayList<>(tasks.size());
        ExecutorService workers = workers();
        for (Runnable task : tasks) {
            running.add(workers.submit(task));
        }
        RuntimeException failure = null;
        for (Future<?> f : running) {
            try {
                f.get();
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof Error error) {
                    throw error;
                }
                if (failure == null) {
                    failure = cause instanceof RuntimeException r ? r : new BackendException(cause.toString(), cause);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new BackendException("interrupted while waiting for a BLAS block", e);
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    /** [start, end) column ranges of {@link #COLUMNS} covering {@code columns}. */
    static List<int[]> blocks(int columns) {
        List<int[]> out = new ArrayList<>();
        for (int start = 0; start < columns; start += COLUMNS) {
            out.add(new int[] {start, Math.min(columns, start + COLUMNS)});
        }
        return out;
    }

    private synchronized ExecutorService workers() {
        if (pool == null) {
            ThreadFactory daemons = task -> {
                Thread t = new Thread(task, "onnx-fuse-blas");
                t.setDaemon(true);
                return t;
            };
            pool = Executors.newFixedThreadPool(threads, daemons);
        }
        return pool;
    }

    @Override
    public synchronized void close() {
        if (pool != null) {
            pool.shutdownNow();
            pool = null;
        }
    }
}
