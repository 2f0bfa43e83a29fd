package org.onnxfuse.fusion.collect;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxfuse.onnx.ir.Graph;

/**
 * A model's activations before one level's cut, for every calibration batch: the values that
 * nodes before the level's affine op compute and that it or later nodes read
 * ({@link ModelSlicing#frontier}), skip connections included. The next run over the data starts
 * here instead of at the graph inputs (which it reads from the batch). The values are kept with
 * what they were computed from ({@link ModelSlicing#ancestry}); a graph whose nodes before the
 * cut have changed since must not use them. Owns its stores until {@link #close()}.
 */
final class Frontier implements AutoCloseable {
    /** Which level's cut the values precede: 0 for none (start from the graph inputs). */
    private final int level;
    private final Map<String, StoredValue> values;
    private final List<Object> ancestry;

    Frontier(int level, Map<String, StoredValue> values, List<Object> ancestry) {
        this.level = level;
        this.values = new LinkedHashMap<>(values);
        this.ancestry = List.copyOf(ancestry);
    }

    /** No stored values: runs start from the graph inputs. */
    static Frontier inputs() {
        return new Frontier(0, Map.of(), List.of());
    }

    int level() {
        return level;
    }

    Map<String, StoredValue> values() {
        return values;
    }

    /** Whether some value went to disk. */
    boolean spilled() {
        return values.values().stream().anyMatch(StoredValue::spilled);
    }

    /** Whether {@code graph} computes these values as the graph they were stored from did. */
    boolean validFor(Graph graph) {
        List<Object> now = ModelSlicing.ancestry(graph, values.keySet());
        if (now.size() != ancestry.size()) {
            return false;
        }
        for (int i = 0; i < now.size(); i++) {
            if (now.get(i) != ancestry.get(i)) {
                return false;
            }
        }
        return true;
    }

    /** Hands the store of {@code name} over to the caller: closing this frontier leaves it open. */
    StoredValue take(String name) {
        return values.remove(name);
    }

    @Override
    public void close() {
        RuntimeException first = null;
        for (StoredValue v : values.values()) {
            try {
                v.close();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        values.clear();
        if (first != null) {
            throw first;
        }
    }
}
