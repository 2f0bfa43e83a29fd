package org.onnxfuse.fusion.importance;

import java.util.ArrayList;
import java.util.List;
import org.onnxfuse.fusion.ops.SliceHandler;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/**
 * Slice with constant bounds and positive steps (Swin's cyclic shift and crop, patch merging's
 * every other row and column): the gradient goes back to the positions the slice kept, zeros
 * elsewhere. Axis by axis, in reverse order: a step s spreads the gradient to every s-th position
 * (each value followed by s - 1 zeros, then the axes merged back), and a Pad puts it at the start
 * and fills the rest of the axis; the sliced axes must have a fixed size.
 */
final class SliceGradient implements GradientRule {
    @Override
    public void propagate(Node n, String g, BackwardPass pass) {
        pass.onlyDataInput(n, 0);
        String x = n.inputs().get(0);
        if (!pass.wants(x)) {
            return;
        }
        List<Dim> shape = pass.shape(x);
        if (shape == null) {
            throw pass.unsupported(n, "slices a value of unknown rank");
        }
        int rank = shape.size();
        SliceHandler.Bounds b = SliceHandler.bounds(n, pass::constantValue, rank);
        int count = b.count();
        List<Integer> axes = new ArrayList<>();
        for (long a : b.axes()) {
            axes.add(Math.toIntExact(a));
        }
        String grad = g;
        List<Dim> current = new ArrayList<>(shape);
        for (int i = 0; i < count; i++) {
            int axis = axes.get(i);
            long step = b.steps()[i];
            Dim size = shape.get(axis);
            if (step < 1 || !size.isFixed()) {
                throw pass.unsupported(n, step < 1 ? "slices with step " + step + "; gradients need positive steps"
                        : "slices axis " + axis + " of unknown size");
            }
            current.set(axis, Dim.of(SliceHandler.length(size.value(), b.starts()[i], b.ends()[i], step)));
        }
        for (int i = count - 1; i >= 0; i--) {
            int axis = axes.get(i);
            long n0 = shape.get(axis).value();
            long step = b.steps()[i];
            long start = b.starts()[i] < 0 ? b.starts()[i] + n0 : b.starts()[i];
            start = Math.max(0, Math.min(n0, start));
            long kept = current.get(axis).value();
            long spread = kept * step;
            if (step > 1) {
                // [.., kept, ..] -> [.., kept, 1, ..] -> zeros after each value -> [.., kept * step, ..]
                String opened = pass.emit("Unsqueeze", List.of(grad, pass.longs(axis + 1)));
                long[] pads = new long[2 * (rank + 1)];
                pads[rank + 1 + axis + 1] = step - 1;
                String spaced = pass.emit("Pad", List.of(opened, pass.longs(pads)));
                String dims = pass.emit("Shape", List.of(grad));
                String before = pass.emit("Slice", List.of(dims, pass.longs(0), pass.longs(axis)));
                String after = pass.emit("Slice", List.of(dims, pass.longs(axis + 1), pass.longs(rank)));
                String target = pass.emit("Concat", List.of(before, pass.longs(spread), after),
                        Attribute.ofLong("axis", 0));
                grad = pass.emit("Reshape", List.of(spaced, target));
            }
            long[] pads = new long[2 * rank];
            pads[axis] = start;
            pads[rank + axis] = Math.max(0, n0 - start - spread);
            grad = pass.emit("Pad", List.of(grad, pass.longs(pads)));
            if (start + spread > n0) {
                grad = pass.emit("Slice", List.of(grad, pass.longs(0), pass.longs(n0), pass.longs(axis)));
            }
            current.set(axis, Dim.of(n0));
        }
        pass.flowTo(n, 0, grad);
    }
}
