package org.onnxfuse.fusion.importance;

import java.util.List;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/**
 * LayerNormalization (opset 17): y = xhat * Scale + B with xhat = (x - mean) / sqrt(var + eps)
 * over the axes from {@code axis} on. dx = (gs - mean(gs) - xhat mean(gs xhat)) / sqrt(var + eps),
 * gs = g * Scale; the statistics are recomputed here rather than read from the op's optional
 * outputs, so a model that does not request them needs no change.
 */
final class LayerNormGradient implements GradientRule {
    @Override
    public void propagate(Node n, String g, BackwardPass pass) {
        pass.onlyDataInput(n, 0);
        if (n.outputs().stream().skip(1).anyMatch(o -> !o.isEmpty() && pass.wants(o))) {
            throw pass.unsupported(n, "feeds its mean or inverse standard deviation forward");
        }
        List<String> in = n.inputs();
        String x = in.get(0);
        List<Dim> shape = pass.shape(x);
        List<Dim> scale = pass.constantShape(in.get(1));
        if (shape == null || scale == null || scale.stream().anyMatch(d -> !d.isFixed())) {
            throw pass.unsupported(n, "normalizes an input of shape " + shape + " with a scale of shape " + scale
                    + "; both must be known");
        }
        int rank = shape.size();
        long axisAttribute = n.longAttribute("axis", -1);
        int axis = (int) (axisAttribute < 0 ? axisAttribute + rank : axisAttribute);
        long[] normalizedAxes = new long[rank - axis];
        long count = 1;
        for (int i = axis; i < rank; i++) {
            normalizedAxes[i - axis] = i;
            Dim d = shape.get(i);
            if (!d.isFixed()) {
                throw pass.unsupported(n, "normalizes over axis " + i + " of unknown size in " + shape);
            }
            count *= d.value();
        }
        String axes = pass.longs(normalizedAxes);
        String inverseCount = pass.scalar(1f / count);
        String centred = pass.emit("Sub", List.of(x, mean(x, axes, inverseCount, pass)));
        String variance = mean(pass.emit("Mul", List.of(centred, centred)), axes, inverseCount, pass);
        String inverseDeviation = pass.emit("Reciprocal", List.of(pass.emit("Sqrt", List.of(pass.emit("Add",
                List.of(variance, pass.scalar(n.floatAttribute("epsilon", 1e-5f))))))));
        String normalized = pass.emit("Mul", List.of(centred, inverseDeviation));
        if (pass.wants(x)) {
            String gs = pass.emit("Mul", List.of(g, in.get(1)));
            String meanGs = mean(gs, axes, inverseCount, pass);
            String meanGsX = mean(pass.emit("Mul", List.of(gs, normalized)), axes, inverseCount, pass);
            String inner = pass.emit("Sub", List.of(pass.emit("Sub", List.of(gs, meanGs)), pass.emit("Mul",
                    List.of(normalized, meanGsX))));
            pass.contribute(x, pass.emit("Mul", List.of(inner, inverseDeviation)));
        }
        if (pass.wants(in.get(1))) {
            pass.contribute(in.get(1), BroadcastGradient.summedTo(pass, n, pass.emit("Mul", List.of(g, normalized)),
                    in.get(1)));
        }
        if (in.size() > 2 && !in.get(2).isEmpty() && pass.wants(in.get(2))) {
            pass.contribute(in.get(2), BroadcastGradient.summedTo(pass, n, g, in.get(2)));
        }
    }

    private static String mean(String value, String axes, String inverseCount, BackwardPass pass) {
        return pass.emit("Mul", List.of(pass.emit("ReduceSum", List.of(value, axes), Attribute.ofLong("keepdims", 1)),
                inverseCount));
    }
}
