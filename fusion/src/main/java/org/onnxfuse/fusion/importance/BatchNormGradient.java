package org.onnxfuse.fusion.importance;

import java.util.Arrays;
import java.util.List;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/**
 * BatchNormalization in inference form, y = scale (x - mean) / sqrt(var + eps) + B per channel
 * (axis 1). Scale and B may be parameters; the running statistics are not trained.
 */
final class BatchNormGradient implements GradientRule {
    @Override
    public void propagate(Node n, String g, BackwardPass pass) {
        pass.onlyDataInput(n, 0);
        if (n.longAttribute("training_mode", 0) != 0) {
            throw pass.unsupported(n, "runs in training mode; export the model in inference mode (model.eval())");
        }
        if (n.outputs().stream().skip(1).anyMatch(o -> !o.isEmpty())) {
            throw pass.unsupported(n, "returns running statistics (training mode)");
        }
        List<String> in = n.inputs();
        for (int i = 3; i < 5; i++) {
            if (pass.isParameter(in.get(i))) {
                throw pass.unsupported(n, "has its running statistic '" + in.get(i) + "' among the parameters; only"
                        + " scale and B are trained");
            }
        }
        List<Dim> scale = pass.constantShape(in.get(1));
        if (scale == null || scale.size() != 1 || !scale.get(0).isFixed()) {
            throw pass.unsupported(n, "has a scale of unknown size");
        }
        int c = Math.toIntExact(scale.get(0).value());
        String zeros = pass.constant(new long[] {c}, new float[c]);
        Attribute epsilon = Attribute.ofFloat("epsilon", n.floatAttribute("epsilon", 1e-5f));
        if (pass.wants(in.get(0))) {
            // g * scale / sqrt(var + eps), per channel, for any rank: BatchNormalization itself
            pass.contribute(in.get(0), pass.emit("BatchNormalization", List.of(g, in.get(1), zeros, zeros, in.get(4)),
                    epsilon));
        }
        boolean scaleWanted = pass.wants(in.get(1));
        boolean biasWanted = pass.wants(in.get(2));
        if (!scaleWanted && !biasWanted) {
            return;
        }
        List<Dim> x = pass.shape(in.get(0));
        if (x == null) {
            throw pass.unsupported(n, "normalizes an input of unknown rank");
        }
        long[] notChannels = new long[x.size() - 1];
        for (int i = 1; i < notChannels.length; i++) {
            notChannels[i] = i + 1;
        }
        String axes = pass.longs(notChannels);
        if (scaleWanted) {
            float[] ones = new float[c];
            Arrays.fill(ones, 1f);
            // xhat = (x - mean) / sqrt(var + eps): the op itself with unit scale and no shift
            String normalized = pass.emit("BatchNormalization", List.of(in.get(0), pass.constant(new long[] {c}, ones),
                    zeros, in.get(3), in.get(4)), epsilon);
            pass.contribute(in.get(1), pass.emit("ReduceSum", List.of(pass.emit("Mul", List.of(g, normalized)), axes),
                    Attribute.ofLong("keepdims", 0)));
        }
        if (biasWanted) {
            pass.contribute(in.get(2), pass.emit("ReduceSum", List.of(g, axes), Attribute.ofLong("keepdims", 0)));
        }
    }
}
