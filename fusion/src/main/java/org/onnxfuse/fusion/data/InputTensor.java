package org.onnxfuse.fusion.data;

/**
 * One model input's values for a batch of samples, samples first: float32 features
 * ({@link FloatBatch}) or exact integers for an int64 or bool input ({@link IntegerBatch}).
 */
public sealed interface InputTensor permits FloatBatch, IntegerBatch {
    /** {@code [count, ...sample shape]}. */
    long[] shape();

    /** Number of samples, {@code shape()[0]}. */
    int count();
}
