package org.onnxfuse.fusion.train;

import java.util.List;

/**
 * One parameter p with loss mean over rows of (p - t)^2, t each row's one target: the gradient is
 * 2 (p - mean t), so training pulls p to the mean of the targets it sees. Rows carry one input
 * value, unused.
 */
final class MeanObjective implements Objective {
    private final ParameterLayout layout = ParameterLayout.of(new ParameterSpec("p", List.of(1), Initializer.fanIn(1)));

    @Override
    public ParameterLayout parameters() {
        return layout;
    }

    @Override
    public double lossAndGradients(Batch batch, float[][] parameters, float[][] gradients) {
        double p = parameters[0][0];
        double mean = 0;
        for (float t : batch.targets()) {
            mean += t;
        }
        mean /= batch.rows();
        gradients[0][0] = (float) (2 * (p - mean));
        return loss(batch, parameters);
    }

    @Override
    public double loss(Batch batch, float[][] parameters) {
        double sum = 0;
        for (float t : batch.targets()) {
            double residual = (double) parameters[0][0] - t;
            sum += residual * residual;
        }
        return sum / batch.rows();
    }

    /** n rows whose targets are {@code trainTarget} on the training split of {@code seed} and {@code validationTarget} on its validation split. */
    static HeldRows splitTargets(int n, long seed, float trainTarget, float validationTarget) {
        float[] targets = new float[n];
        java.util.Arrays.fill(targets, trainTarget);
        for (int row : DataSplit.of(n, seed).validation()) {
            targets[row] = validationTarget;
        }
        return new HeldRows(n, new float[n], targets);
    }
}
