package org.onnxfuse.fusion.collect;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxfuse.fusion.data.FloatBatch;
import org.onnxfuse.fusion.data.InputBatch;
import org.onnxfuse.fusion.data.InputTensor;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Model;

/**
 * One model's run over the calibration data, batch by batch, from a stored {@link Frontier} (or
 * the graph inputs) to the values a pass wants, storing on the way the frontier before a later
 * cut. The ONNX Runtime session covers only the segment between ({@link ModelSlicing#segment});
 * values of the old frontier that the new one keeps are handed over, not copied. The graph
 * inputs the segment reads are fed from each batch. Owns its session and the new frontier's
 * stores until {@link #finish} or {@link #close()}.
 */
final class SegmentPass implements AutoCloseable {
    private final String label;
    private final Frontier from;
    /** The new frontier's values: those computed here (stored per batch) and those kept from {@code from}. */
    private final List<String> computed = new ArrayList<>();
    private final List<String> kept = new ArrayList<>();
    private final Map<String, StoredValue> stores = new LinkedHashMap<>();
    private final List<String> outputs;
    private final List<String> wanted;
    private final OrtRunner runner;
    private boolean advancing;
    private int batches;

    /**
     * @param to     the new frontier's values, or null to store none
     * @param wanted the values each {@link #run} returns
     */
    SegmentPass(String label, Model model, Frontier from, List<String> to, List<String> wanted, int threads,
                StoredValue.Budget budget) {
        this.label = label;
        this.from = from;
        this.wanted = List.copyOf(wanted);
        this.advancing = to != null;
        if (to != null) {
            for (String name : to) {
                (from.values().containsKey(name) ? kept : computed).add(name);
            }
        }
        Map<String, DataType> stored = new LinkedHashMap<>();
        from.values().keySet().forEach(n -> stored.put(n, DataType.FLOAT));
        OrtRunner opened = null;
        List<String> asked = outputs(wanted, from);
        if (advancing) {
            Set<String> all = new LinkedHashSet<>(computed);
            all.addAll(asked);
            try {
                opened = open(model, stored, List.copyOf(all), threads);
                if (opened != null && !computed.stream().allMatch(opened::floatOutput)) {
                    opened.close();
                    opened = null;
                    advancing = false;
                } else {
                    asked = List.copyOf(all);
                }
            } catch (OnnxFuseException e) {
                // e.g. an int64 value among the new frontier's, typed float32 here: keep only the wanted ones
                advancing = false;
            }
        }
        if (!advancing) {
            computed.clear();
            kept.clear();
            opened = open(model, stored, asked, threads);
        }
        this.outputs = asked;
        this.runner = opened;
        try {
            for (String name : computed) {
                stores.put(name, new StoredValue(name, budget));
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** The wanted values that the stored frontier does not hold, to be computed. */
    private static List<String> outputs(List<String> wanted, Frontier from) {
        Set<String> out = new LinkedHashSet<>();
        wanted.stream().filter(w -> !from.values().containsKey(w)).forEach(out::add);
        return List.copyOf(out);
    }

    private OrtRunner open(Model model, Map<String, DataType> stored, List<String> asked, int threads) {
        if (asked.isEmpty()) {
            return null;
        }
        return OrtRunner.open(label, ModelSlicing.segment(model, stored, asked), List.of(), threads);
    }

    /** Whether this pass stores a new frontier (false once a value turned out not to be storable). */
    boolean advancing() {
        return advancing;
    }

    /**
     * Runs batch {@code index} (the passes go over the same batches in the same order) and
     * returns the wanted values; their arrays are valid until the next run.
     */
    Map<String, Activation> run(InputBatch batch, int index) {
        Map<String, Activation> results = Map.of();
        if (runner != null) {
            Map<String, InputTensor> feed = new LinkedHashMap<>();
            for (String name : runner.inputNames()) {
                StoredValue v = from.values().get(name);
                if (v == null) {
                    feed.put(name, batch.tensor(name));
                } else {
                    feed.put(name, stored(v, index, batch));
                }
            }
            results = runner.runShared(new InputBatch(batch.firstSample(), batch.count(), feed), outputs);
        }
        if (advancing) {
            for (String name : computed) {
                Activation a = results.get(name);
                if (a.rank() == 0 || a.shape()[0] != batch.count()) {
                    // not one row per sample (e.g. a shape): it cannot be fed back batch by batch
                    dropNewFrontier();
                    break;
                }
                stores.get(name).append(a.shape(), a.values());
            }
        }
        batches = index + 1;
        Map<String, Activation> out = new LinkedHashMap<>();
        for (String name : wanted) {
            Activation a = results.get(name);
            if (a == null) {
                StoredValue v = from.values().get(name);
                a = new Activation(name, v.shape(index), v.read(index));
            }
            out.put(name, a);
        }
        return out;
    }

    private FloatBatch stored(StoredValue v, int index, InputBatch batch) {
        if (index >= v.batches()) {
            throw new OnnxFuseException(ErrorCode.INTERNAL, label + ": the stored '" + v.name() + "' holds "
                    + v.batches() + " batches, batch " + index + " asked");
        }
        long[] shape = v.shape(index);
        if (shape[0] != batch.count()) {
            throw new OnnxFuseException(ErrorCode.INTERNAL, label + ": the stored '" + v.name() + "' of batch "
                    + index + " has shape " + java.util.Arrays.toString(shape) + " for " + batch.count()
                    + " samples");
        }
        return new FloatBatch(batch.firstSample(), batch.count(), shape, v.read(index));
    }

    private void dropNewFrontier() {
        advancing = false;
        stores.values().forEach(StoredValue::close);
        stores.clear();
    }

    /**
     * The new frontier, before level {@code level}, once every batch has run: the values computed
     * here and those taken over from the old frontier (which no longer owns them); null when this
     * pass stores none. {@code ancestry} is what the values are computed from.
     */
    Frontier finish(int level, List<Object> ancestry) {
        if (!advancing) {
            return null;
        }
        Map<String, StoredValue> values = new LinkedHashMap<>();
        for (String name : kept) {
            StoredValue v = from.take(name);
            if (v.batches() != batches) {
                throw new OnnxFuseException(ErrorCode.INTERNAL, label + ": '" + name + "' holds " + v.batches()
                        + " batches, the pass ran " + batches);
            }
            values.put(name, v);
        }
        values.putAll(stores);
        stores.clear();
        advancing = false;
        return new Frontier(level, values, ancestry);
    }

    /** Names of the new frontier's values, in order (empty when none is stored). */
    List<String> frontierNames() {
        List<String> out = new ArrayList<>(kept);
        out.addAll(computed);
        return out;
    }

    @Override
    public void close() {
        try {
            stores.values().forEach(StoredValue::close);
            stores.clear();
        } finally {
            if (runner != null) {
                runner.close();
            }
        }
    }
}
