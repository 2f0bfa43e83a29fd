package org.onnxfuse.fusion.data;

import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;

/** Rejects NaN and infinite values, which would silently poison every statistic downstream. */
public final class Finite {
    private Finite() {
    }

    /**
     * Throws on the first non-finite value of a batch.
     *
     * @param source the data's name for the message
     * @throws DataException DATA_NOT_FINITE naming the source, the sample index (within the whole
     *     array), the element index within the sample (and its multi-index for rank 2 and up)
     *     and the value
     */
    public static void check(String source, FloatBatch batch) {
        float[] v = batch.values();
        for (int i = 0; i < v.length; i++) {
            if (!Float.isFinite(v[i])) {
                throw notFinite(source, batch, i);
            }
        }
    }

    /** {@link #check(String, FloatBatch)} for every float input of the batch (integers are always finite). */
    public static void check(String source, InputBatch batch) {
        for (java.util.Map.Entry<String, InputTensor> e : batch.tensors().entrySet()) {
            if (e.getValue() instanceof FloatBatch f) {
                check(e.getKey().equals(InputBatch.ONLY_INPUT) ? source : source + ":" + e.getKey(), f);
            }
        }
    }

    private static DataException notFinite(String source, FloatBatch batch, int flat) {
        long[] shape = batch.shape();
        int sampleSize = batch.sampleSize();
        long sample = batch.firstSample() + flat / sampleSize;
        int element = flat % sampleSize;
        String where = "element " + element;
        if (shape.length > 2) {
            long[] index = new long[shape.length - 1];
            int rest = element;
            for (int j = index.length - 1; j >= 0; j--) {
                index[j] = rest % shape[j + 1];
                rest /= (int) shape[j + 1];
            }
            where += " " + Text.shape(index);
        }
        float x = batch.values()[flat];
        String value = Float.isNaN(x) ? "NaN" : x > 0 ? "+Inf" : "-Inf";
        return new DataException(ErrorCode.DATA_NOT_FINITE, source + ": sample " + sample + ", "
                + where + " is " + value + "; expected finite values (replace or drop such samples,"
                + " e.g. np.nan_to_num)");
    }
}
