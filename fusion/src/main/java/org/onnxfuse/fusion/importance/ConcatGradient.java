package org.onnxfuse.fusion.importance;

import java.util.List;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/**
 * Concat: each input's gradient is its slice of the output's along the axis. Sizes known from
 * the shapes give constant bounds; an input of unknown size there (a class token expanded to the
 * batch) has its bounds read from the input's shape at run time.
 */
final class ConcatGradient implements GradientRule {
    @Override
    public void propagate(Node n, String g, BackwardPass pass) {
        List<Dim> out = pass.shape(n.outputs().get(0));
        if (out == null) {
            throw pass.unsupported(n, "concatenates inputs of unknown rank");
        }
        int axis = axis(n, out.size());
        boolean fixed = n.inputs().stream().allMatch(in -> size(in, axis, pass) != null);
        if (fixed) {
            long offset = 0;
            for (int i = 0; i < n.inputs().size(); i++) {
                long size = size(n.inputs().get(i), axis, pass).value();
                if (pass.wants(n.inputs().get(i))) {
                    pass.contribute(n.inputs().get(i), pass.emit("Slice", List.of(g, pass.longs(offset),
                            pass.longs(offset + size), pass.longs(axis))));
                }
                offset += size;
            }
            return;
        }
        String offset = pass.longs(0);
        for (int i = 0; i < n.inputs().size(); i++) {
            String in = n.inputs().get(i);
            Dim known = size(in, axis, pass);
            String size = known != null ? pass.longs(known.value()) : pass.emit("Shape", List.of(in),
                    Attribute.ofLong("start", axis), Attribute.ofLong("end", axis + 1));
            String end = pass.emit("Add", List.of(offset, size));
            if (pass.wants(in)) {
                pass.contribute(in, pass.emit("Slice", List.of(g, offset, end, pass.longs(axis))));
            }
            offset = end;
        }
    }

    static int axis(Node n, int rank) {
        long axis = n.longAttribute("axis", 0);
        return (int) (axis < 0 ? axis + rank : axis);
    }

    /** The input's size along the axis, or null when unknown. */
    private static Dim size(String in, int axis, BackwardPass pass) {
        List<Dim> s = pass.isVariable(in) ? pass.shape(in) : pass.constantShape(in);
        return s == null || !s.get(axis).isFixed() ? null : s.get(axis);
    }
}
