package org.onnxfuse.fusion.importance;

import java.util.List;
import org.onnxfuse.fusion.ops.Shapes;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/** What the backward rules of the sliding-window ops (Conv, AveragePool) share: the window and the ConvTranspose crop. */
final class SlidingWindowGradient {
    private SlidingWindowGradient() {
    }

    /** The op's window ({@link Shapes#window}) with explicit pads; VALID means no pads, SAME_* is refused. */
    static Shapes.Window window(Node n, long[] kernel, BackwardPass pass) {
        Shapes.Window w = Shapes.window(n, kernel, false);
        return switch (w.autoPad()) {
            case "NOTSET" -> w;
            case "VALID" -> new Shapes.Window(w.kernel(), w.strides(), new long[2 * kernel.length], w.dilations(),
                    "NOTSET", false);
            default -> throw pass.unsupported(n, "uses auto_pad=" + w.autoPad() + "; export with explicit pads");
        };
    }

    /**
     * A ConvTranspose result (computed without pads) cut and zero-padded to exactly the forward
     * input's spatial sizes. Without pads, output position o maps to input o * s + k * d; input
     * i then sits at i + padBegin of the result, whose length is (out - 1) * s + d (k - 1) + 1.
     */
    static String cropToInput(Node n, String full, long[] in, Shapes.Window win, List<Dim> outShape,
                              BackwardPass pass) {
        int r = win.kernel().length;
        long[] outSizes = pass.fixedSpatialSizes(n, outShape, r);
        long[] starts = new long[r];
        long[] ends = new long[r];
        long[] axes = new long[r];
        long[] padEnd = new long[2 * (r + 2)];
        boolean needPad = false;
        for (int i = 0; i < r; i++) {
            long length = (outSizes[i] - 1) * win.strides()[i] + win.dilations()[i] * (win.kernel()[i] - 1) + 1;
            starts[i] = win.pads()[i];
            ends[i] = Math.min(length, win.pads()[i] + in[2 + i]);
            axes[i] = 2 + i;
            long missing = win.pads()[i] + in[2 + i] - ends[i];
            padEnd[r + 2 + 2 + i] = missing;
            needPad |= missing > 0;
            if (starts[i] >= ends[i] && missing == 0) {
                throw pass.unsupported(n, "has a window that covers no input");
            }
        }
        String sliced = pass.emit("Slice", List.of(full, pass.longs(starts), pass.longs(ends), pass.longs(axes)));
        if (!needPad) {
            return sliced;
        }
        // positions the last window does not reach get no gradient
        return pass.emit("Pad", List.of(sliced, pass.longs(padEnd)));
    }
}
