package org.onnxfuse.fusion.importance;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.onnxfuse.fusion.collect.Activation;
import org.onnxfuse.fusion.collect.OrtRunner;
import org.onnxfuse.onnx.ir.Model;

/**
 * Feature ablation for one cut of one parent: attr_j(x) = F(x) - F(x with neuron j of the cut set
 * to 0), F = the logit of the sample's class. The part of the parent after the cut runs as a model
 * of its own ({@link TailModel}) on copies of the cut with one neuron zeroed, several neurons per
 * ONNX Runtime run. At the last cut (the logits themselves) the answer is exact without a model:
 * only the class's own logit changes F. Owns its tail session until {@link #close()}.
 */
final class FeatureAblation implements AutoCloseable {
    /** Floats per stacked run: bounds the memory of one run whatever the cut's size. */
    private static final long ELEMENTS_PER_RUN = 1L << 23;

    private final String cut;
    private final int neuronAxis;
    private final String logits;
    private final OrtRunner tail;
    /** Reused from batch to batch (grown when needed), so that a pass allocates almost nothing. */
    private double[] attr = new double[0];
    private float[] stacked = new float[0];

    private FeatureAblation(String cut, int neuronAxis, String logits, OrtRunner tail) {
        this.cut = cut;
        this.neuronAxis = neuronAxis;
        this.logits = logits;
        this.tail = tail;
    }

    /**
     * @param cut    the cut whose neurons are ablated
     * @param logits the last cut, [N, C]
     */
    static FeatureAblation open(String label, Model parent, String cut, int neuronAxis, String logits, int threads) {
        if (cut.equals(logits)) {
            return new FeatureAblation(cut, neuronAxis, logits, null);
        }
        Model tailModel = TailModel.of(parent, cut, logits);
        return new FeatureAblation(cut, neuronAxis, logits, OrtRunner.open(label + " after '" + cut + "'", tailModel,
                List.of(), threads));
    }

    /**
     * Attributions of one batch, [samples, width] row-major, in an array this object reuses (and
     * may be longer): valid until the next call.
     *
     * @param value     the cut's value on the batch (samples first)
     * @param lastValue the logits on the batch, [samples, C]
     * @param labels    the class of each sample
     */
    double[] attributions(Activation value, Activation lastValue, long[] labels) {
        long[] shape = value.shape();
        int samples = Math.toIntExact(shape[0]);
        int width = Math.toIntExact(shape[neuronAxis]);
        int classes = Math.toIntExact(lastValue.shape()[1]);
        if (attr.length < samples * width) {
            attr = new double[samples * width];
        }
        float[] z = lastValue.values();
        if (tail == null) {
            java.util.Arrays.fill(attr, 0, samples * width, 0.0);
            for (int n = 0; n < samples; n++) {
                int y = Math.toIntExact(labels[n]);
                attr[n * width + y] = z[n * classes + y];
            }
            return attr;
        }
        int perSample = value.values().length / samples;
        long inner = 1;
        for (int a = neuronAxis + 1; a < shape.length; a++) {
            inner *= shape[a];
        }
        int outer = Math.toIntExact(perSample / (inner * width));
        int chunk = (int) Math.max(1, Math.min(width, ELEMENTS_PER_RUN / Math.max(1, value.values().length)));
        if (stacked.length < Math.multiplyExact(chunk, value.values().length)) {
            stacked = new float[Math.multiplyExact(chunk, value.values().length)];
        }
        for (int first = 0; first < width; first += chunk) {
            int count = Math.min(chunk, width - first);
            for (int q = 0; q < count; q++) {
                int neuron = first + q;
                int base = q * value.values().length;
                System.arraycopy(value.values(), 0, stacked, base, value.values().length);
                for (int n = 0; n < samples; n++) {
                    for (int o = 0; o < outer; o++) {
                        int start = Math.toIntExact(base + (long) n * perSample + ((long) o * width + neuron) * inner);
                        java.util.Arrays.fill(stacked, start, Math.toIntExact(start + inner), 0f);
                    }
                }
            }
            long[] stackedShape = shape.clone();
            stackedShape[0] = (long) count * samples;
            // the runner reads only the first count * samples rows of the reused array
            Map<String, Activation> out = tail.runShared(stacked, stackedShape, List.of(logits));
            float[] ablated = out.get(logits).values();
            for (int q = 0; q < count; q++) {
                for (int n = 0; n < samples; n++) {
                    int y = Math.toIntExact(labels[n]);
                    double f = z[n * classes + y];
                    double g = ablated[(q * samples + n) * classes + y];
                    attr[n * width + first + q] = f - g;
                }
            }
        }
        return attr;
    }

    String cut() {
        return cut;
    }

    /** The number of neurons of {@code value}, this ablation's cut. */
    long width(Activation value) {
        return value.shape()[neuronAxis];
    }

    @Override
    public void close() {
        if (tail != null) {
            tail.close();
        }
    }

    /** Opens one ablation per cut; on failure closes those already opened. */
    static List<FeatureAblation> openAll(String label, Model parent, List<String> cuts, List<Integer> axes,
                                         int threads) {
        List<FeatureAblation> out = new ArrayList<>();
        try {
            String logits = cuts.get(cuts.size() - 1);
            for (int i = 0; i < cuts.size(); i++) {
                out.add(open(label, parent, cuts.get(i), axes.get(i), logits, threads));
            }
            return out;
        } catch (RuntimeException e) {
            out.forEach(FeatureAblation::close);
            throw e;
        }
    }
}
