package org.onnxfuse.fusion.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.importance.GradientGraph;
import org.onnxfuse.fusion.importance.ParameterGradients;
import org.onnxfuse.fusion.importance.SegmentLoss;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorType;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * The ONNX Runtime objective on a known least-squares problem: a Gemm y = x W + b trained to
 * targets t = x W* + b* (+ noise). Its minimiser over the training rows is the closed-form
 * least-squares answer, which {@link LeastSquaresObjective} computes in float64.
 */
class SegmentObjectiveTest {
    private static final int IN = 4;
    private static final int OUT = 3;
    private static final int ROWS = 240;

    private static Model gemm() {
        Graph g = Graph.builder().name("segment")
                .addInput(ValueInfo.tensor("x", new TensorType(DataType.FLOAT, List.of(Dim.symbol("N"), Dim.of(IN)))))
                .addNode(Node.of("fc", "Gemm", List.of("x", "W", "b"), List.of("y")))
                .initializers(List.of(Tensor.ofFloats("W", new long[] {IN, OUT}, new float[IN * OUT]),
                        Tensor.ofFloats("b", new long[] {OUT}, new float[OUT])))
                .addOutput(ValueInfo.tensor("y", new TensorType(DataType.FLOAT, null))).build();
        return Model.of(g, 17);
    }

    /** Rows x (ROWS x IN) and targets x W* + b* + {@code noise} times Gaussian noise. */
    private static HeldRows rows(double[][] trueW, double[] trueB, double noise) {
        Random rng = new Random(5);
        float[] x = new float[ROWS * IN];
        float[] t = new float[ROWS * OUT];
        for (int r = 0; r < ROWS; r++) {
            for (int i = 0; i < IN; i++) {
                x[r * IN + i] = (float) rng.nextGaussian();
            }
            for (int j = 0; j < OUT; j++) {
                double v = trueB[j] + noise * rng.nextGaussian();
                for (int i = 0; i < IN; i++) {
                    v += x[r * IN + i] * trueW[i][j];
                }
                t[r * OUT + j] = (float) v;
            }
        }
        return new HeldRows(ROWS, x, t);
    }

    private static SegmentObjective objective(float[] weights) {
        ParameterGradients g = GradientGraph.forParameters(gemm(), List.of("x"), List.of("y"), List.of("W", "b"),
                new SegmentLoss.WeightedMse(-1));
        ParameterLayout layout = ParameterLayout.of(new ParameterSpec("W", List.of(IN, OUT), Initializer.fanIn(IN)),
                new ParameterSpec("b", List.of(OUT), Initializer.fanIn(IN)));
        return new SegmentObjective(g, layout, new long[] {IN}, new long[] {OUT}, weights, 1);
    }

    @Test
    void oneAdamStepInOnnxRuntimeLowersTheLoss() {
        HeldRows rows = rows(new double[][] {{1, 0, -1}, {0.5, 2, 0}, {0, -1, 1}, {3, 0, 0.5}}, new double[] {1, -2, 0},
                0.05);
        try (SegmentObjective objective = objective(new float[] {1f / 3, 1f / 3, 1f / 3})) {
            float[][] params = objective.parameters().zeros();
            float[][] grads = objective.parameters().zeros();
            Batch all = rows.batch(java.util.stream.IntStream.range(0, ROWS).toArray());
            double before = objective.lossAndGradients(all, params, grads);
            Optimizer adam = Optimizer.create(TrainingSettings.builder().weightDecay(0).build(), objective.parameters());
            adam.step(params, grads, 0.01);
            double after = objective.loss(all, params);
            assertTrue(after < before, before + " -> " + after);
        }
    }

    @Test
    void trainingThroughOnnxRuntimeConvergesToTheClosedFormLeastSquaresAnswer() {
        double[][] trueW = {{1, 0, -1}, {0.5, 2, 0}, {0, -1, 1}, {3, 0, 0.5}};
        // without noise the minimiser is the same on the training and the validation rows, so the
        // best epoch's weights (chosen on validation) converge to the training rows' closed form
        HeldRows rows = rows(trueW, new double[] {1, -2, 0}, 0);
        TrainingSettings settings = TrainingSettings.builder().epochs(400).patience(400).weightDecay(0)
                .learningRate(LearningRate.fixed(0.02)).seed(3).build();
        try (SegmentObjective objective = objective(new float[] {0.2f, 0.5f, 0.3f})) {
            TrainingOutcome outcome = new Trainer(settings).train(1, objective, objective.parameters().zeros(), rows,
                    TrainingProgress.NONE);
            // the same loss in plain Java knows its closed-form minimiser (normal equations, Cholesky)
            double[][] answer = new LeastSquaresObjective(IN, 0.2, 0.5, 0.3).minimiser(rows,
                    DataSplit.of(ROWS, 3).train(), 0);
            double worst = 0;
            for (int p = 0; p < 2; p++) {
                for (int i = 0; i < answer[p].length; i++) {
                    worst = Math.max(worst, Math.abs(outcome.parameters()[p][i] - answer[p][i]));
                }
            }
            System.out.println("largest difference to the closed-form answer: " + worst + " after "
                    + outcome.result().epochsRun() + " epochs");
            assertTrue(worst < 1e-3, "largest difference " + worst);
        }
    }

    @Test
    void weightsGoWithTheWeightedMseOnly() {
        ParameterGradients g = GradientGraph.forParameters(gemm(), List.of("x"), List.of("y"), List.of("W", "b"),
                new SegmentLoss.WeightedMse(-1));
        ParameterLayout layout = ParameterLayout.of(new ParameterSpec("W", List.of(IN, OUT), Initializer.fanIn(IN)),
                new ParameterSpec("b", List.of(OUT), Initializer.fanIn(IN)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new SegmentObjective(g, layout, new long[] {IN}, new long[] {OUT}, null, 1));
        assertEquals("segment objective: per-neuron weights go with the weighted MSE only", e.getMessage());
    }
}
