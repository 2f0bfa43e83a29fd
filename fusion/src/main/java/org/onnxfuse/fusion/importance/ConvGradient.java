package org.onnxfuse.fusion.importance;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.onnxfuse.fusion.ops.Shapes;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/** Conv with any group, strides, explicit pads and dilations; weight and bias constants or parameters. */
final class ConvGradient implements GradientRule {
    @Override
    public void propagate(Node n, String g, BackwardPass pass) {
        pass.onlyDataInput(n, 0);
        String x = n.inputs().get(0);
        String weight = n.inputs().get(1);
        long[] w = Optional.ofNullable(pass.constantShape(weight)).map(l -> l.stream().mapToLong(Dim::sizeOrMinusOne)
                .toArray()).orElseThrow(() -> pass.unsupported(n, "has a weight '" + weight + "' of unknown shape"));
        int r = w.length - 2;
        long[] kernel = Arrays.copyOfRange(w, 2, w.length);
        long group = n.longAttribute("group", 1);
        List<Dim> outShape = pass.shape(n.outputs().get(0));
        if (pass.wants(x)) {
            long[] in = pass.fixedShape(n, x, "(ConvTranspose must reproduce it exactly)");
            Shapes.Window win = SlidingWindowGradient.window(n, kernel, pass);
            String full = pass.emit("ConvTranspose", List.of(g, weight), Attribute.ofLong("group", group),
                    Attribute.ofLongs("strides", win.strides()), Attribute.ofLongs("dilations", win.dilations()),
                    Attribute.ofLongs("kernel_shape", kernel));
            pass.contribute(x, SlidingWindowGradient.cropToInput(n, full, in, win, outShape, pass));
        }
        if (pass.wants(weight)) {
            pass.contribute(weight, weightGradient(n, g, w, group, pass));
        }
        String bias = n.inputs().size() > 2 ? n.inputs().get(2) : "";
        if (!bias.isEmpty() && pass.wants(bias)) {
            long[] axes = new long[r + 1];
            for (int i = 1; i <= r; i++) {
                axes[i] = i + 1;
            }
            pass.contribute(bias, pass.emit("ReduceSum", List.of(g, pass.longs(axes)), Attribute.ofLong("keepdims", 0)));
        }
    }

    /**
     * dW[m, c, k] = sum over samples n and output positions p of g[n, m, p] x_padded[n, c, p s + k d]:
     * itself a Conv of x over g's positions, with stride d, dilation s and the forward pads. The
     * samples become the reduced channels, the input channels the batch, and the groups stay
     * groups: x [N, G*Cg, ...] is rearranged to [Cg, G*N, ...], g [N, G*Mg, ...] to the weight
     * [G*Mg, N, ...], so group G's outputs see only group G's inputs. The result [Cg, M, k'...]
     * is transposed to W's layout and cut to the kernel (k' >= k when the end pad is not used).
     */
    private static String weightGradient(Node n, String g, long[] w, long group, BackwardPass pass) {
        String x = n.inputs().get(0);
        int r = w.length - 2;
        long[] in = pass.fixedShape(n, x, "(the weight's gradient correlates it with the output's)");
        long[] out = pass.fixedSpatialSizes(n, pass.shape(n.outputs().get(0)), r);
        Shapes.Window win = SlidingWindowGradient.window(n, Arrays.copyOfRange(w, 2, w.length), pass);
        long inPerGroup = in[1] / group;
        long outPerGroup = w[0] / group;
        long[] split = new long[r + 3];
        split[1] = group;
        split[2] = inPerGroup;
        System.arraycopy(in, 2, split, 3, r);
        long[] samplesLast = permutation(r, 2, 1, 0);
        long[] asBatch = new long[r + 2];
        asBatch[0] = inPerGroup;
        asBatch[1] = -1;
        System.arraycopy(in, 2, asBatch, 2, r);
        String xs = pass.emit("Reshape", List.of(pass.emit("Transpose", List.of(pass.emit("Reshape",
                List.of(x, pass.longs(split)))), Attribute.ofLongs("perm", samplesLast)), pass.longs(asBatch)));
        long[] gSplit = new long[r + 3];
        gSplit[1] = group;
        gSplit[2] = outPerGroup;
        System.arraycopy(out, 0, gSplit, 3, r);
        long[] gAsWeight = new long[r + 2];
        gAsWeight[0] = w[0];
        gAsWeight[1] = -1;
        System.arraycopy(out, 0, gAsWeight, 2, r);
        String gs = pass.emit("Reshape", List.of(pass.emit("Transpose", List.of(pass.emit("Reshape",
                List.of(g, pass.longs(gSplit)))), Attribute.ofLongs("perm", permutation(r, 1, 2, 0))),
                pass.longs(gAsWeight)));
        String correlated = pass.emit("Conv", List.of(xs, gs), Attribute.ofLong("group", group),
                Attribute.ofLongs("strides", win.dilations()), Attribute.ofLongs("dilations", win.strides()),
                Attribute.ofLongs("pads", win.pads()));
        String transposed = pass.emit("Transpose", List.of(correlated), Attribute.ofLongs("perm",
                permutation(r, 1, 0)));
        long[] axes = new long[r];
        for (int i = 0; i < r; i++) {
            axes[i] = 2 + i;
        }
        return pass.emit("Slice", List.of(transposed, pass.longs(new long[r]), pass.longs(Arrays.copyOfRange(w, 2,
                w.length)), pass.longs(axes)));
    }

    /** {@code leading} followed by the identity on the remaining {@code r} spatial axes. */
    private static long[] permutation(int r, long... leading) {
        long[] perm = new long[leading.length + r];
        System.arraycopy(leading, 0, perm, 0, leading.length);
        for (int i = 0; i < r; i++) {
            perm[leading.length + i] = leading.length + i;
        }
        return perm;
    }
}
