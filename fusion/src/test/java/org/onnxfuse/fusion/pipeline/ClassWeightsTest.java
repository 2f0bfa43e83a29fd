package org.onnxfuse.fusion.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.importance.ClassWeights;
import org.onnxfuse.fusion.importance.ImportanceMethod;
import org.onnxfuse.fusion.plan.TestNets;
import org.onnxfuse.fusion.plan.TestNets.Net;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * The last level's class weights on parents whose logits are known without running them: a Gemm
 * with zero weights outputs its bias for every input, so each parent's probability of class c is
 * softmax(b_k)_c, and the fused bias is the class-weighted mean of the parents' biases.
 */
class ClassWeightsTest {
    private static final float[][] BIASES = {{2f, -1f, 0.5f}, {-0.5f, 1.5f, 0f}};
    private static final int SAMPLES = 64;

    private static Model constantLogits(float[] bias) {
        Net net = new Net("input", TestNets.shape("batch", 4));
        net.initializer(Tensor.ofFloats("head.weight", new long[] {4, 3}, new float[12]));
        net.initializer(Tensor.ofFloats("head.bias", new long[] {3}, bias));
        return net.node(Node.of("head", "Gemm", List.of("input", "head.weight", "head.bias"), List.of("logits")))
                .build();
    }

    private static float[] fusedBias(ClassWeights weights) {
        Random random = new Random(3);
        float[] x = new float[SAMPLES * 4];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        long[] labels = new long[SAMPLES];
        for (int i = 0; i < SAMPLES; i++) {
            labels[i] = i % 2; // class 2 never appears
        }
        FusionResult result = Fusion.builder().parents(constantLogits(BIASES[0]), constantLogits(BIASES[1]))
                .calibration(x, SAMPLES, 4).labels(labels).importance(ImportanceMethod.UNIFORM)
                .classWeights(weights).device("cpu").log(s -> { }).build().fuse();
        return result.model().graph().initializer("head.bias").orElseThrow().toFloats();
    }

    private static double[] softmax(float[] z) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : z) {
            max = Math.max(max, v);
        }
        double sum = 0;
        double[] p = new double[z.length];
        for (int c = 0; c < z.length; c++) {
            p[c] = Math.exp(z[c] - max);
            sum += p[c];
        }
        for (int c = 0; c < z.length; c++) {
            p[c] /= sum;
        }
        return p;
    }

    /** u_kc = s'_kc / sum_k s'_kc with s' the weights normalised over each parent's classes. */
    private static float[] weightedMean(double[][] s) {
        double[][] normalised = new double[s.length][];
        for (int k = 0; k < s.length; k++) {
            double total = Arrays.stream(s[k]).sum();
            normalised[k] = Arrays.stream(s[k]).map(v -> v / total).toArray();
        }
        float[] out = new float[3];
        for (int c = 0; c < 3; c++) {
            double sum = 0;
            double mean = 0;
            for (int k = 0; k < s.length; k++) {
                sum += normalised[k][c];
            }
            for (int k = 0; k < s.length; k++) {
                mean += normalised[k][c] / sum * BIASES[k][c];
            }
            out[c] = (float) mean;
        }
        return out;
    }

    @Test
    void confidenceWeighsEachParentByItsProbabilityOfTheTrueClass() {
        double[][] confidence = new double[2][];
        for (int k = 0; k < 2; k++) {
            double[] p = softmax(BIASES[k]);
            confidence[k] = new double[] {p[0], p[1], 1.0}; // no sample of class 2: alike
        }
        float[] expected = weightedMean(confidence);
        assertArrayEquals(expected, fusedBias(ClassWeights.CONFIDENCE), 1e-4f);
        // parent 0 is surer of class 0 (p 0.79 vs 0.10), parent 1 of class 1 (0.74 vs 0.04): the fused
        // logits lean to them, far from the plain means 0.75 and 0.25
        assertTrue(expected[0] > 1.5 && expected[1] > 1.2, Arrays.toString(expected));
    }

    @Test
    void uniformIsThePlainMeanOfTheLogits() {
        float[] mean = new float[3];
        for (int c = 0; c < 3; c++) {
            mean[c] = (BIASES[0][c] + BIASES[1][c]) / 2;
        }
        assertArrayEquals(mean, fusedBias(ClassWeights.UNIFORM), 1e-4f);
    }
}
