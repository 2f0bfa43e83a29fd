package org.onnxfuse.fusion.importance;

import java.util.List;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Node;

/** Gemm: Y = alpha op(A) op(B) + beta C, op(X) = X^T under transX. */
final class GemmGradient implements GradientRule {
    @Override
    public void propagate(Node n, String g, BackwardPass pass) {
        pass.onlyDataInput(n, 0);
        List<String> in = n.inputs();
        float alpha = n.floatAttribute("alpha", 1f);
        boolean transA = n.longAttribute("transA", 0) != 0;
        boolean transB = n.longAttribute("transB", 0) != 0;
        Attribute alphaAttr = Attribute.ofFloat("alpha", alpha);
        if (pass.wants(in.get(0))) {
            String dA;
            if (!transA) {
                // dA = alpha g op(B)^T
                dA = pass.emit("Gemm", List.of(g, in.get(1)), alphaAttr, Attribute.ofLong("transB", transB ? 0 : 1));
            } else {
                // A' = A^T: dA = (alpha g op(B)^T)^T = alpha op(B) g^T
                dA = pass.emit("Gemm", List.of(in.get(1), g), alphaAttr, Attribute.ofLong("transA", transB ? 1 : 0),
                        Attribute.ofLong("transB", 1));
            }
            pass.contribute(in.get(0), dA);
        }
        if (pass.wants(in.get(1))) {
            // d op(B) = alpha op(A)^T g; under transB its transpose, alpha g^T op(A)
            String dB = transB
                    ? pass.emit("Gemm", List.of(g, in.get(0)), alphaAttr, Attribute.ofLong("transA", 1),
                            Attribute.ofLong("transB", transA ? 1 : 0))
                    : pass.emit("Gemm", List.of(in.get(0), g), alphaAttr, Attribute.ofLong("transA", transA ? 0 : 1));
            pass.contribute(in.get(1), dB);
        }
        if (in.size() > 2 && !in.get(2).isEmpty() && pass.wants(in.get(2))) {
            String scaled = pass.emit("Mul", List.of(g, pass.scalar(n.floatAttribute("beta", 1f))));
            pass.contribute(in.get(2), BroadcastGradient.summedTo(pass, n, scaled, in.get(2)));
        }
    }
}
