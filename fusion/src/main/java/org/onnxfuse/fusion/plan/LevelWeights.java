package org.onnxfuse.fusion.plan;

import org.onnxfuse.fusion.ops.AffineHandler;
import org.onnxfuse.fusion.ops.AffineWeights;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.fusion.ops.OpRegistry;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * A level's affine map as one fan-in x width matrix (rows: input features, then the bias;
 * columns: neurons), with a folded BatchNormalization applied: W' = W * s, b' = (b - mean) * s +
 * beta with s = scale / sqrt(var + epsilon) per neuron. The level's cut is then exactly
 * [input, 1] * W'.
 */
public final class LevelWeights {
    private LevelWeights() {
    }

    /** Reads {@code level}'s weights from {@code graph} (the graph the level was planned on). */
    public static AffineWeights read(Graph graph, Level level) {
        GraphView view = new GraphView(graph);
        Node affine = level.affine();
        AffineHandler handler = (AffineHandler) OpRegistry.standard().find(affine, -1)
                .orElseThrow(() -> OpRegistry.standard().unsupported(affine, null));
        AffineWeights w = handler.weights(affine, level.biasAdd(), view);
        Node bn = level.foldedNorm();
        if (bn == null) {
            return w;
        }
        int n = w.cols();
        float[] scale = param(view, bn, 1, n);
        float[] beta = param(view, bn, 2, n);
        float[] mean = param(view, bn, 3, n);
        float[] var = param(view, bn, 4, n);
        double eps = bn.floatAttribute("epsilon", 1e-5f);
        int in = w.inFeatures();
        float[] out = new float[(in + 1) * n];
        for (int j = 0; j < n; j++) {
            double s = scale[j] / Math.sqrt(var[j] + eps);
            for (int i = 0; i < in; i++) {
                out[i * n + j] = (float) (w.get(i, j) * s);
            }
            double b = w.hasBias() ? w.get(in, j) : 0;
            out[in * n + j] = (float) ((b - mean[j]) * s + beta[j]);
        }
        return new AffineWeights(in + 1, n, out, true);
    }

    private static float[] param(GraphView view, Node bn, int input, int width) {
        String name = bn.inputs().get(input);
        Tensor t = view.constant(name).orElseThrow(() -> new ModelFormatException(ErrorCode.INVALID_MODEL,
                "node " + GraphView.quote(bn) + " reads '" + name + "' from " + view.origin(name)
                        + "; its parameters must be constants"));
        float[] v = t.toFloats();
        if (v.length != width) {
            throw new ModelFormatException(ErrorCode.INVALID_MODEL, "node " + GraphView.quote(bn) + " has parameter '"
                    + name + "' with " + v.length + " values for " + width + " channels");
        }
        return v;
    }
}
