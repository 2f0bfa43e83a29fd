package org.onnxfuse.fusion.data;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The same samples of every model input, by input name. Data of one array (a {@code .npy})
 * holds a single tensor under {@link #ONLY_INPUT}, which feeds a model's only input whatever
 * that input is called.
 *
 * @param firstSample index of the first sample
 * @param count       number of samples, the first dimension of every tensor
 * @param tensors     input name to tensor, in the data's order
 */
public record InputBatch(long firstSample, int count, Map<String, InputTensor> tensors) {
    /** The key of the one array of single-input data. */
    public static final String ONLY_INPUT = "";

    public InputBatch {
        if (tensors.isEmpty()) {
            throw new IllegalArgumentException("a batch needs at least one input");
        }
        for (Map.Entry<String, InputTensor> e : tensors.entrySet()) {
            if (e.getValue().count() != count) {
                throw new IllegalArgumentException("input '" + e.getKey() + "' holds " + e.getValue().count()
                        + " samples in a batch of " + count);
            }
        }
        tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
    }

    /** A batch of single-input data. */
    public static InputBatch of(FloatBatch only) {
        return new InputBatch(only.firstSample(), only.count(), Map.of(ONLY_INPUT, only));
    }

    /**
     * The tensor for model input {@code input}: the one of that name, else the single tensor of
     * single-input data.
     *
     * @throws IllegalArgumentException naming the inputs the batch holds when there is none
     */
    public InputTensor tensor(String input) {
        InputTensor t = tensors.get(input);
        if (t == null && tensors.size() == 1 && tensors.containsKey(ONLY_INPUT)) {
            t = tensors.get(ONLY_INPUT);
        }
        if (t == null) {
            throw new IllegalArgumentException("no data for model input '" + input + "'; the batch holds "
                    + tensors.keySet());
        }
        return t;
    }

    /**
     * {@link #tensor(String)} when it is float32.
     *
     * @throws IllegalArgumentException when the input's data is integer
     */
    public FloatBatch floats(String input) {
        if (tensor(input) instanceof FloatBatch f) {
            return f;
        }
        throw new IllegalArgumentException("model input '" + input + "' holds integers, not float32 features");
    }
}
