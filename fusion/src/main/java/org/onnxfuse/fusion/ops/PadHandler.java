package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/**
 * Constant-mode padding of positions: the spatial axes of [N, C, spatial...] (torch exports
 * F.avg_pool2d as Pad + AveragePool) or of a channels-last [N, H, W, C] (Swin pads its tokens to
 * whole windows). Neither the batch nor the neurons may be padded: the neurons stay where they
 * are, as in a Conv's own padding.
 */
final class PadHandler implements OpHandler {
    @Override
    public String opType() {
        return "Pad";
    }

    @Override
    public long sinceOpset() {
        return 11;
    }

    @Override
    public OpRole role() {
        return OpRole.POOLING;
    }

    @Override
    public String displayName() {
        return "Pad (constant, positions)";
    }

    @Override
    public List<Dim> outputShape(Node n, List<Dim> in, GraphView g) {
        if (!n.stringAttribute("mode", "constant").equals("constant")) {
            throw Shapes.unsupported(n, "pads in mode '" + n.stringAttribute("mode", "constant")
                    + "'; only constant padding is supported");
        }
        if (n.inputs().size() > 3 && !n.inputs().get(3).isEmpty()) {
            throw Shapes.unsupported(n, "pads only some axes (an axes input)");
        }
        long[] pads = amounts(n, g);
        if (pads.length != 2 * in.size()) {
            throw Shapes.invalid(n, "has " + pads.length + " pads for an input of rank " + in.size());
        }
        List<Dim> out = new ArrayList<>();
        for (int a = 0; a < in.size(); a++) {
            long add = pads[a] + pads[a + in.size()];
            if (add != 0 && a == 0) {
                throw Shapes.unsupported(n, "pads axis 0 (the batch); only positions may be padded");
            }
            Dim d = in.get(a);
            out.add(add == 0 ? d : d.isFixed() ? Dim.of(d.value() + add) : Dim.UNKNOWN);
        }
        return out;
    }

    @Override
    public void requireNeuronAxis(Node node, int neuronAxis, int rank, GraphView graph) {
        long[] pads = amounts(node, graph);
        if (pads.length == 2 * rank && pads[neuronAxis] + pads[neuronAxis + rank] != 0) {
            throw Shapes.unsupported(node, "pads axis " + neuronAxis + ", which holds the neurons; only positions"
                    + " may be padded");
        }
    }

    @Override
    public Map<String, String> signature(Node n, GraphView g) {
        return Map.of("pads", Arrays.toString(amounts(n, g)), "mode", n.stringAttribute("mode", "constant"));
    }

    static long[] amounts(Node n, GraphView g) {
        if (n.inputs().size() < 2 || n.inputs().get(1).isEmpty()) {
            throw Shapes.unsupported(n, "has no pads input");
        }
        return g.constant(n.inputs().get(1)).orElseThrow(() -> Shapes.unsupported(n, "takes its pads from "
                + g.origin(n.inputs().get(1)) + "; a level needs constant pads")).toLongs();
    }
}
