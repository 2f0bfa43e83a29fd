package org.onnxfuse.fusion.collect;

import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Batches made on one thread and used on another, in order: a producer fills a slot (runs the
 * models on the next batch and copies what it needs out of their buffers) while the caller's
 * thread drains the slot filled before it (accumulates its statistics). Each slot is one set of
 * buffers, owned by whichever side holds it, so with two slots inference of batch i + 1 overlaps
 * the statistics of batch i. The caller's thread does all the draining, so a backend bound to it
 * (a CUDA context) stays on it, and the order of what is drained, hence every sum, is that of a
 * serial loop.
 *
 * <p>A failure on either side ends the run: the producer's is rethrown on the caller's thread as
 * it was thrown; after a failure while draining the producer finishes the slot it is filling
 * (it is never interrupted: an interrupt would close the data file's channel) and stops before
 * taking another. The producer thread has ended when {@link #run} returns or throws, so its
 * sessions can be closed.
 */
final class BatchPipeline {
    /** Fills slots with consecutive batches. */
    @FunctionalInterface
    interface Producer<S> {
        /** Fills {@code slot} with the next batch; false (slot untouched) when there is none left. */
        boolean fill(S slot);
    }

    /** Uses slots in the order they were filled. */
    @FunctionalInterface
    interface Drain<S> {
        void drain(S slot);
    }

    private static final Object END = new Object();
    private static final Object CANCEL = new Object();

    private record Failure(Throwable error) {
    }

    private BatchPipeline() {
    }

    /**
     * Fills and drains every batch: on a thread of its own named {@code threadName} when there are
     * two slots or more, in turn on the caller's thread with one.
     *
     * @return the nanoseconds the caller's thread did not drain: waiting for a filled slot, or
     *         filling it itself with one slot
     */
    static <S> long run(List<S> slots, Producer<S> producer, Drain<S> drain, String threadName) {
        if (slots.isEmpty()) {
            throw new IllegalArgumentException("no slots");
        }
        long waited = 0;
        if (slots.size() == 1) {
            S slot = slots.get(0);
            while (true) {
                long t = System.nanoTime();
                boolean filled = producer.fill(slot);
                waited += System.nanoTime() - t;
                if (!filled) {
                    return waited;
                }
                drain.drain(slot);
            }
        }
        // one more place than slots in each queue: END, a failure or CANCEL never waits for room
        BlockingQueue<Object> free = new ArrayBlockingQueue<>(slots.size() + 1);
        BlockingQueue<Object> full = new ArrayBlockingQueue<>(slots.size() + 1);
        free.addAll(slots);
        Thread worker = new Thread(() -> {
            try {
                while (true) {
                    Object slot = free.take();
                    if (slot == CANCEL) {
                        return;
                    }
                    @SuppressWarnings("unchecked")
                    S s = (S) slot;
                    if (!producer.fill(s)) {
                        full.add(END);
                        return;
                    }
                    full.add(s);
                }
            } catch (Throwable e) {
                full.add(new Failure(e));
            }
        }, threadName);
        worker.setDaemon(true);
        worker.start();
        boolean finished = false;
        try {
            while (true) {
                long t = System.nanoTime();
                Object taken = take(full);
                waited += System.nanoTime() - t;
                if (taken == END) {
                    break;
                }
                if (taken instanceof Failure f) {
                    throw rethrown(f.error());
                }
                @SuppressWarnings("unchecked")
                S s = (S) taken;
                drain.drain(s);
                free.add(s);
            }
            finished = true;
        } finally {
            if (!finished) {
                free.add(CANCEL);
            }
            joinUninterruptibly(worker);
        }
        return waited;
    }

    private static Object take(BlockingQueue<Object> queue) {
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return queue.take();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static void joinUninterruptibly(Thread worker) {
        boolean interrupted = false;
        while (worker.isAlive()) {
            try {
                worker.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private static RuntimeException rethrown(Throwable error) {
        if (error instanceof RuntimeException r) {
            return r;
        }
        if (error instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(error);
    }
}
