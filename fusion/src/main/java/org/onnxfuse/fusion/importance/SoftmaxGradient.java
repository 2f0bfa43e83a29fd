package org.onnxfuse.fusion.importance;

import java.util.List;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/**
 * Softmax over the last axis (attention's weights over the keys): with y = softmax(x),
 * dx = y (g - sum(g y)) summed along that axis. DeepLIFT uses this gradient as it is.
 */
final class SoftmaxGradient implements GradientRule {
    @Override
    public void propagate(Node n, String g, BackwardPass pass) {
        pass.onlyDataInput(n, 0);
        String y = n.outputs().get(0);
        List<Dim> shape = pass.shape(y);
        if (shape == null) {
            throw pass.unsupported(n, "has an output of unknown rank");
        }
        int rank = shape.size();
        long axis = n.longAttribute("axis", -1);
        if (axis < 0) {
            axis += rank;
        }
        if (axis != rank - 1) {
            throw pass.unsupported(n, "normalises axis " + axis + " of " + rank + " (" + GraphView.quote(n)
                    + "); gradients follow a Softmax over the last axis only");
        }
        String gy = pass.emit("Mul", List.of(g, y));
        String sum = pass.emit("ReduceSum", List.of(gy, pass.longs(axis)), Attribute.ofLong("keepdims", 1));
        pass.flowTo(n, 0, pass.emit("Mul", List.of(y, pass.emit("Sub", List.of(g, sum)))));
    }
}
