package org.onnxfuse.fusion.importance;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxfuse.fusion.ops.GatherHandler;
import org.onnxfuse.fusion.ops.ReduceHandler;
import org.onnxfuse.fusion.ops.Shapes;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * The pooling ops and constant Pad. MaxPool routes the gradient to the maximum of each window
 * (its Indices output scattered with reduction "add", so overlapping windows add up); AveragePool
 * and GlobalAveragePool spread it back as the window average's transpose, ReduceMean likewise over
 * its axes (restored first where keepdims = 0) and ReduceSum as a copy over them; Pad cuts it back out.
 */
final class PoolingGradient implements GradientRule {
    @Override
    public void propagate(Node n, String g, BackwardPass pass) {
        switch (n.opType()) {
            case "MaxPool" -> maxPool(n, g, pass);
            case "AveragePool" -> averagePool(n, g, pass);
            case "GlobalAveragePool" -> globalAveragePool(n, g, pass);
            case "ReduceMean" -> reduce(n, g, pass, true);
            case "ReduceSum" -> reduce(n, g, pass, false);
            case "Gather" -> gather(n, g, pass);
            case "Pad" -> pad(n, g, pass);
            default -> throw pass.unsupported(n, "has no gradient rule");
        }
    }

    private static void pad(Node n, String g, BackwardPass pass) {
        pass.onlyDataInput(n, 0);
        long[] pads = pass.constantValue(n.inputs().get(1)).orElseThrow(() -> pass.unsupported(n,
                "takes its pads from a computed value")).toLongs();
        if (!n.stringAttribute("mode", "constant").equals("constant")) {
            throw pass.unsupported(n, "pads in mode '" + n.stringAttribute("mode", "constant") + "'");
        }
        long[] begins = Arrays.copyOf(pads, pads.length / 2);
        String x = n.inputs().get(0);
        // the input's own window of the padded gradient: begins .. begins + shape(x)
        String ends = pass.emit("Add", List.of(pass.emit("Shape", List.of(x)), pass.longs(begins)));
        pass.flowTo(n, 0, pass.emit("Slice", List.of(g, pass.longs(begins), ends)));
    }

    private static void maxPool(Node n, String g, BackwardPass pass) {
        String a = n.inputs().get(0);
        if (!pass.wants(a)) {
            return;
        }
        Map<String, Attribute> attrs = new LinkedHashMap<>(n.attributes());
        attrs.put("storage_order", Attribute.ofLong("storage_order", 0));
        // Indices count over the whole tensor (batch and channel included), as the flat index ScatterElements needs
        String indices = pass.emitOutputs("MaxPool", List.of(a), attrs, 2).get(1);
        String flat = pass.emit("Reshape", List.of(a, pass.longs(new long[] {-1})));
        String zeros = pass.emit("ConstantOfShape", List.of(pass.emit("Shape", List.of(flat))),
                Attribute.ofTensor("value", Tensor.ofFloats("value", new long[] {1}, new float[] {0f})));
        String scattered = pass.emit("ScatterElements", List.of(zeros, pass.emit("Reshape", List.of(indices,
                pass.longs(new long[] {-1}))), pass.emit("Reshape", List.of(g, pass.longs(new long[] {-1})))),
                Attribute.ofLong("axis", 0), Attribute.ofString("reduction", "add"));
        pass.contribute(a, pass.emit("Reshape", List.of(scattered, pass.emit("Shape", List.of(a)))));
    }

    private static void averagePool(Node n, String g, BackwardPass pass) {
        String a = n.inputs().get(0);
        if (!pass.wants(a)) {
            return;
        }
        long[] kernel = n.longsAttribute("kernel_shape", null);
        if (kernel == null) {
            throw pass.unsupported(n, "has no kernel_shape");
        }
        int r = kernel.length;
        long[] in = pass.fixedShape(n, a, "(the gradient spreads each window back over it)");
        Shapes.Window win = SlidingWindowGradient.window(n, kernel, pass);
        List<Dim> outShape = pass.shape(n.outputs().get(0));
        long channels = in[1];
        // Output p averages the inputs of its window with divisor D[p], which depends on
        // count_include_pad and on windows that run past the padding (ceil_mode). Rather than
        // restate ONNX Runtime's convention, the graph measures it: AveragePool of ones is
        // valid[p] / D[p], where valid[p] counts the window's inputs inside the tensor.
        long[] onesShape = new long[r + 2];
        onesShape[0] = 1;
        onesShape[1] = 1;
        long spatial = 1;
        for (int i = 0; i < r; i++) {
            onesShape[2 + i] = in[2 + i];
            spatial *= in[2 + i];
        }
        float[] ones = new float[Math.toIntExact(spatial)];
        Arrays.fill(ones, 1f);
        String pooledOnes = pass.emit("AveragePool", List.of(pass.constant(onesShape, ones)),
                n.attributes().values().toArray(new Attribute[0]));
        long[] outSizes = pass.fixedSpatialSizes(n, outShape, r);
        float[] inverseValid = inverseValidCounts(in, outSizes, win);
        long[] mapShape = new long[r + 2];
        mapShape[0] = 1;
        mapShape[1] = 1;
        System.arraycopy(outSizes, 0, mapShape, 2, r);
        String perOutput = pass.emit("Mul", List.of(pooledOnes, pass.constant(mapShape, inverseValid)));
        String scaled = pass.emit("Mul", List.of(g, perOutput));
        long[] kernelDims = new long[r + 2];
        kernelDims[0] = channels;
        kernelDims[1] = 1;
        long k = 1;
        for (int i = 0; i < r; i++) {
            kernelDims[2 + i] = kernel[i];
            k *= kernel[i];
        }
        float[] kernelOnes = new float[Math.toIntExact(channels * k)];
        Arrays.fill(kernelOnes, 1f);
        String full = pass.emit("ConvTranspose", List.of(scaled, pass.constant(kernelDims, kernelOnes)),
                Attribute.ofLong("group", channels), Attribute.ofLongs("strides", win.strides()),
                Attribute.ofLongs("dilations", win.dilations()), Attribute.ofLongs("kernel_shape", kernel));
        pass.contribute(a, SlidingWindowGradient.cropToInput(n, full, in, win, outShape, pass));
    }

    /** 1 / (number of window positions inside the input) per output position, row-major, 0 for none. */
    private static float[] inverseValidCounts(long[] in, long[] out, Shapes.Window win) {
        int r = out.length;
        long total = 1;
        for (long o : out) {
            total *= o;
        }
        float[] result = new float[Math.toIntExact(total)];
        long[] p = new long[r];
        for (int flat = 0; flat < result.length; flat++) {
            long rem = flat;
            for (int i = r - 1; i >= 0; i--) {
                p[i] = rem % out[i];
                rem /= out[i];
            }
            long count = 1;
            for (int i = 0; i < r; i++) {
                long inside = 0;
                for (long t = 0; t < win.kernel()[i]; t++) {
                    long pos = p[i] * win.strides()[i] - win.pads()[i] + t * win.dilations()[i];
                    if (pos >= 0 && pos < in[2 + i]) {
                        inside++;
                    }
                }
                count *= inside;
            }
            result[flat] = count == 0 ? 0f : 1f / count;
        }
        return result;
    }

    /**
     * One constant position along an axis: the gradient goes back to that position, zeros around
     * it (a Pad whose padding after the position is worked out from the input's shape at run
     * time, as a class token's Concat leaves the token count unknown here).
     */
    private static void gather(Node n, String g, BackwardPass pass) {
        pass.onlyDataInput(n, 0);
        String a = n.inputs().get(0);
        if (!pass.wants(a)) {
            return;
        }
        List<Dim> shape = pass.shape(a);
        if (shape == null) {
            throw pass.unsupported(n, "gathers from a value of unknown rank");
        }
        int rank = shape.size();
        Tensor index = pass.constantValue(n.inputs().get(1)).orElseThrow(() -> pass.unsupported(n,
                "gathers at computed positions"));
        int axis = GatherHandler.axis(n, rank);
        long position = index.toLongs()[0];
        if (position < 0) {
            throw pass.unsupported(n, "gathers position " + position + " counted from the end");
        }
        String restored = index.dims().length == 0 ? pass.emit("Unsqueeze", List.of(g, pass.longs(axis))) : g;
        long[] before = new long[rank + axis];
        before[axis] = position;
        String size = pass.emit("Gather", List.of(pass.emit("Shape", List.of(a)), pass.longs(axis)));
        String after = pass.emit("Sub", List.of(size, pass.longs(position + 1)));
        String pads = pass.emit("Concat", List.of(pass.longs(before), after, pass.longs(new long[rank - 1 - axis])),
                Attribute.ofLong("axis", 0));
        pass.contribute(a, pass.emit("Pad", List.of(restored, pads)));
    }

    /** ReduceMean ({@code mean}) or ReduceSum: the gradient copied back over the reduced axes, divided by their size for a mean. */
    private static void reduce(Node n, String g, BackwardPass pass, boolean mean) {
        String a = n.inputs().get(0);
        if (!pass.wants(a)) {
            return;
        }
        long[] in = pass.fixedShape(n, a, "(the gradient is spread evenly over the reduced axes)");
        long[] axes = ReduceHandler.axes(n, in.length, pass::constantValue);
        long count = 1;
        for (long axis : axes) {
            count *= in[(int) axis];
        }
        String spread = n.longAttribute("keepdims", 1) != 0 ? g
                : pass.emit("Unsqueeze", List.of(g, pass.longs(axes)));
        String scaled = mean ? pass.emit("Mul", List.of(spread, pass.scalar(1f / count))) : spread;
        pass.contribute(a, pass.emit("Expand", List.of(scaled, pass.emit("Shape", List.of(a)))));
    }

    private static void globalAveragePool(Node n, String g, BackwardPass pass) {
        String a = n.inputs().get(0);
        if (!pass.wants(a)) {
            return;
        }
        long[] in = pass.fixedShape(n, a, "(the gradient is spread evenly over it)");
        long spatial = 1;
        for (int i = 2; i < in.length; i++) {
            spatial *= in[i];
        }
        String scaled = pass.emit("Mul", List.of(g, pass.scalar(1f / spatial)));
        pass.contribute(a, pass.emit("Expand", List.of(scaled, pass.emit("Shape", List.of(a)))));
    }
}
