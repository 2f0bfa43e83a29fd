package org.onnxfuse.fusion.plan;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/**
 * One level of the linear variant: the ops from the previous cut (or the model input) to this
 * level's affine op, the affine op itself (with MatMul's bias Add and a folded
 * BatchNormalization), and its cut, the pre-activation output.
 *
 * @param index           1-based: level l maps cut l-1 (cut 0 = the model input) to cut l
 * @param ops             ops between {@code from} and the affine op, in order
 * @param affine          the Gemm, MatMul or Conv node
 * @param biasAdd         the Add of a bias initializer after a MatMul, or null
 * @param foldedNorm      the BatchNormalization folded into the affine op, or null
 * @param constants       Constant nodes feeding only the affine op, bias Add or folded norm
 * @param from            the tensor the level starts from: the previous cut or the model input
 * @param input           the affine op's activation input
 * @param inputShape      its shape (symbolic batch kept)
 * @param cut             the affine op's output, or the bias Add's or folded norm's when present
 * @param cutShape        the cut's shape
 * @param neuronAxis      axis of the cut holding the neurons (1 for [N, C, H, W] and [N, D]; last for [N, S, D])
 * @param width           number of neurons at the cut
 * @param fanIn           d: input features of the affine op (Conv: C_in * prod(kernel)), plus one with a bias
 * @param hasBias         whether the fused op has a bias: its own, the bias Add, or one made by folding the norm
 * @param affineSignature settings of the affine op that must agree across parents (Conv kernel, strides...)
 * @param last            whether this level produces the model output (its classes are never clustered)
 * @param space           id of the neuron space its cut belongs to ({@link LevelPlan#spaces()})
 * @param binding         the spaces its input features come from, and how
 * @param depthwise       a depthwise Conv: tied to its input's space, fused channel g reads fused
 *                        channel g only, {@code fanIn} counts one channel's kernel (plus the bias)
 */
public record Level(int index, List<LevelOp> ops, Node affine, Node biasAdd, Node foldedNorm, List<Node> constants,
                    String from, String input, List<Dim> inputShape, String cut, List<Dim> cutShape, int neuronAxis,
                    long width, long fanIn, boolean hasBias, Map<String, String> affineSignature, boolean last,
                    int space, InputBinding binding, boolean depthwise) {
    public Level {
        ops = List.copyOf(ops);
        constants = List.copyOf(constants);
        inputShape = List.copyOf(inputShape);
        cutShape = List.copyOf(cutShape);
        affineSignature = Map.copyOf(affineSignature);
    }

    /** The affine op type: "Gemm", "MatMul" or "Conv". */
    public String affineOpType() {
        return affine.opType();
    }

    public Optional<Node> biasAddNode() {
        return Optional.ofNullable(biasAdd);
    }

    public Optional<Node> foldedNormNode() {
        return Optional.ofNullable(foldedNorm);
    }

    /** The nodes of the ops before the affine op (Constant nodes they own included), in order. */
    public List<Node> opNodes() {
        List<Node> out = new ArrayList<>();
        ops.forEach(op -> out.addAll(op.nodes()));
        return out;
    }

    /** Every node of the level in topological order: ops, constants, affine op, bias Add, folded norm. */
    public List<Node> nodes() {
        List<Node> out = opNodes();
        out.addAll(constants);
        out.add(affine);
        if (biasAdd != null) {
            out.add(biasAdd);
        }
        if (foldedNorm != null) {
            out.add(foldedNorm);
        }
        return out;
    }

    /** Op types in order, e.g. [Flatten, Gemm], [Relu, MatMul, Add], [Conv, BatchNormalization]. */
    public List<String> opTypes() {
        List<String> out = new ArrayList<>();
        ops.forEach(op -> out.add(op.opType()));
        out.add(affine.opType());
        if (biasAdd != null) {
            out.add(biasAdd.opType());
        }
        if (foldedNorm != null) {
            out.add(foldedNorm.opType());
        }
        return out;
    }

    /** Rows of the sample matrix per model input: the product of the cut's non-neuron axes other than the batch. */
    public Optional<Long> positionsPerSample() {
        long n = 1;
        for (int i = 1; i < cutShape.size(); i++) {
            if (i == neuronAxis) {
                continue;
            }
            if (!cutShape.get(i).isFixed()) {
                return Optional.empty();
            }
            n *= cutShape.get(i).value();
        }
        return Optional.of(n);
    }
}
