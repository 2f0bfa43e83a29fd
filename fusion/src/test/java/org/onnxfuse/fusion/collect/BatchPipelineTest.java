package org.onnxfuse.fusion.collect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;

/** Batches filled on one thread and drained on the caller's, in order, and what happens when either side fails. */
class BatchPipelineTest {
    /** A slot: the batch number it holds, and whether the drain side holds it now. */
    private static final class Slot {
        int batch = -1;
        volatile boolean draining;
    }

    private static List<Slot> slots(int count) {
        List<Slot> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            out.add(new Slot());
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3})
    void drainsEveryBatchInOrderOnTheCallersThreadAndNeverFillsASlotBeingDrained(int slotCount) {
        int batches = 200;
        AtomicInteger next = new AtomicInteger();
        List<Integer> drained = new ArrayList<>();
        Set<Thread> fillers = ConcurrentHashMap.newKeySet();
        Thread caller = Thread.currentThread();
        BatchPipeline.run(slots(slotCount), slot -> {
            fillers.add(Thread.currentThread());
            assertFalse(slot.draining, "a slot the drain side holds was filled");
            int b = next.getAndIncrement();
            if (b >= batches) {
                return false;
            }
            slot.batch = b;
            return true;
        }, slot -> {
            assertSame(caller, Thread.currentThread());
            slot.draining = true;
            drained.add(slot.batch);
            Thread.yield(); // give the producer the chance to reach a slot it must not take
            slot.draining = false;
        }, "test producer");
        List<Integer> expected = new ArrayList<>();
        for (int b = 0; b < batches; b++) {
            expected.add(b);
        }
        assertEquals(expected, drained);
        assertEquals(1, fillers.size());
        assertEquals(slotCount == 1, fillers.contains(caller), "one slot: filled on the caller's thread");
    }

    @Test
    void fillingOverlapsDraining() throws InterruptedException {
        // the second batch is filled while the first is drained: the drain waits until it is
        CountDownLatch secondFilled = new CountDownLatch(1);
        AtomicInteger next = new AtomicInteger();
        boolean[] overlapped = {false};
        BatchPipeline.run(slots(2), slot -> {
            int b = next.getAndIncrement();
            if (b == 1) {
                secondFilled.countDown();
            }
            slot.batch = b;
            return b < 3;
        }, slot -> {
            if (slot.batch == 0) {
                try {
                    overlapped[0] = secondFilled.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            }
        }, "test producer");
        assertTrue(overlapped[0], "batch 1 was filled while batch 0 was drained");
    }

    @Test
    void aProducerFailureIsRethrownAsThrownAfterTheBatchesBeforeIt() {
        List<Integer> drained = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger next = new AtomicInteger();
        OnnxFuseException e = assertThrows(OnnxFuseException.class, () -> BatchPipeline.run(slots(2), slot -> {
            int b = next.getAndIncrement();
            if (b == 5) {
                throw new OnnxFuseException(ErrorCode.DATA_NOT_FINITE, "batch 5 holds NaN");
            }
            slot.batch = b;
            return true;
        }, slot -> drained.add(slot.batch), "test producer"));
        assertEquals(ErrorCode.DATA_NOT_FINITE, e.code());
        assertEquals(List.of(0, 1, 2, 3, 4), drained);
    }

    @Test
    void aProducerErrorStaysAnError() {
        AtomicInteger next = new AtomicInteger();
        assertThrows(OutOfMemoryError.class, () -> BatchPipeline.run(slots(2), slot -> {
            if (next.getAndIncrement() == 2) {
                throw new OutOfMemoryError("Java heap space");
            }
            return true;
        }, slot -> { }, "test producer"));
    }

    @Test
    void aDrainFailureStopsTheProducerBeforeRunReturns() {
        AtomicInteger filled = new AtomicInteger();
        Thread[] producer = new Thread[1];
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> BatchPipeline.run(slots(2), slot -> {
            producer[0] = Thread.currentThread();
            filled.incrementAndGet();
            return true; // endless: only the drain's failure ends the run
        }, slot -> {
            throw new IllegalStateException("sink failed");
        }, "test producer"));
        assertEquals("sink failed", e.getMessage());
        assertFalse(producer[0].isAlive(), "the producer has ended");
        assertTrue(filled.get() <= 2, "the producer stopped after filling the two slots: " + filled.get());
    }
}
