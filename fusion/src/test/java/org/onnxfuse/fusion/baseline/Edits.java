package org.onnxfuse.fusion.baseline;

import java.util.Arrays;
import java.util.Random;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Tensor;

/** Test-only edits of fixture parents: neuron permutations and truncations of initializers. */
final class Edits {
    private final Model model;
    private final Graph.Builder graph;

    private Edits(Model model) {
        this.model = model;
        this.graph = model.graph().toBuilder();
    }

    static Edits of(Model model) {
        return new Edits(model);
    }

    /** A seeded random permutation of 0..n-1. */
    static int[] shuffled(int n, long seed) {
        int[] p = new int[n];
        Arrays.setAll(p, i -> i);
        Random r = new Random(seed);
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    static int[] firstN(int n) {
        int[] p = new int[n];
        Arrays.setAll(p, i -> i);
        return p;
    }

    /**
     * Initializer {@code name} viewed with shape {@code view} (same element count, e.g. [10, 16, 49]
     * for a [10, 784] weight after Flatten of 16 channels): index i of axis {@code axis} becomes old
     * index {@code pick[i]}; fewer picks than the axis length truncate it.
     */
    Edits select(String name, long[] view, int axis, int[] pick) {
        Tensor t = graph.build().initializer(name).orElseThrow();
        float[] v = t.toFloats();
        long[] realDims = t.dims();
        if (view == null) {
            view = realDims;
        }
        long outer = 1;
        for (int i = 0; i < axis; i++) {
            outer *= view[i];
        }
        long inner = 1;
        for (int i = axis + 1; i < view.length; i++) {
            inner *= view[i];
        }
        int len = (int) view[axis];
        if (outer * len * inner != v.length) {
            throw new IllegalArgumentException("view " + Arrays.toString(view) + " of " + Arrays.toString(realDims));
        }
        float[] out = new float[(int) (outer * pick.length * inner)];
        for (int o = 0; o < outer; o++) {
            for (int i = 0; i < pick.length; i++) {
                System.arraycopy(v, (int) ((o * len + pick[i]) * inner), out, (int) ((o * pick.length + i) * inner),
                        (int) inner);
            }
        }
        // the real tensor's dims: the axis holding the selected units shrinks by the same factor
        long[] dims = realDims.clone();
        int realAxis = realAxisOf(realDims, view, axis);
        dims[realAxis] = dims[realAxis] / len * pick.length;
        graph.putInitializer(t.withFloats(dims, out));
        return this;
    }

    /** The axis of the real tensor that the view's {@code axis} lies in (views split one real axis). */
    private static int realAxisOf(long[] real, long[] view, int axis) {
        long before = 1;
        for (int i = 0; i < axis; i++) {
            before *= view[i];
        }
        long acc = 1;
        for (int i = 0; i < real.length; i++) {
            if (acc * real[i] > before) {
                return i;
            }
            acc *= real[i];
        }
        throw new IllegalArgumentException("no real axis");
    }

    Model build() {
        return model.withGraph(graph.build());
    }

    /** mlp (Gemm transB, fc1 [h, 784], fc2 [10, h]) with hidden neuron i taken from old neuron pick[i]. */
    static Model mlpHidden(Model mlp, int[] pick) {
        return of(mlp).select("fc1.weight", null, 0, pick).select("fc1.bias", null, 0, pick)
                .select("fc2.weight", null, 1, pick).build();
    }

    /** vgg with conv1 channels permuted by p1 and conv2 channels by p2 (and the fc input blocks). */
    static Model vggChannels(Model vgg, int[] p1, int[] p2) {
        return of(vgg).select("conv1.weight", null, 0, p1).select("conv1.bias", null, 0, p1)
                .select("conv2.weight", null, 1, p1).select("conv2.weight", null, 0, p2)
                .select("conv2.bias", null, 0, p2).select("fc.weight", new long[] {10, 16, 49}, 1, p2).build();
    }
}
