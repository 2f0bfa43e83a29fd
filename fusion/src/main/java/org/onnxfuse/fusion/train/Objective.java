package org.onnxfuse.fusion.train;

/**
 * What a segment is trained to minimise: its loss on a batch and the loss's gradient with respect
 * to each trainable parameter. The training graphs (the segment's forward pass, the
 * importance-weighted MSE to its targets and its backward pass, run through ONNX Runtime with the
 * parameters fed as inputs) implement it; so do plain Java objectives in tests.
 *
 * <p>The loss of a batch is the mean over its rows of each row's loss, so the loss over a split is
 * the row-weighted mean of its batches' losses, whatever the batch size. Calls come from one
 * thread. An implementation holding native resources (ONNX Runtime sessions) releases them in
 * {@link #close()}; its caller closes it.
 */
public interface Objective extends AutoCloseable {

    /** The parameters it trains, in the order of the {@code float[][]} it is given. */
    ParameterLayout parameters();

    /**
     * The loss of {@code batch} at {@code parameters}, with its gradient written into
     * {@code gradients} (every value overwritten; same layout). Reads {@code parameters} only.
     */
    double lossAndGradients(Batch batch, float[][] parameters, float[][] gradients);

    /** The loss of {@code batch} at {@code parameters}, for validation; reads {@code parameters} only. */
    double loss(Batch batch, float[][] parameters);

    @Override
    default void close() {
    }
}
