package org.onnxfuse.fusion.importance;

import java.util.List;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/**
 * MatMul of an activation and a 2-d weight: Y = A W (A of any rank, W [K, M]) or Y = W A (A
 * [K, N]). The weight is a constant or a parameter; two activations are refused.
 */
final class MatMulGradient implements GradientRule {
    @Override
    public void propagate(Node n, String g, BackwardPass pass) {
        String a = n.inputs().get(0);
        String b = n.inputs().get(1);
        boolean activationA = pass.isVariable(a) && !pass.isParameter(a);
        boolean activationB = pass.isVariable(b) && !pass.isParameter(b);
        if (activationA && activationB) {
            bilinear(n, g, pass);
            return;
        }
        if (!activationA && !activationB) {
            throw pass.unsupported(n, "multiplies two parameters ('" + a + "', '" + b + "')");
        }
        boolean left = activationA;
        String weight = left ? b : a;
        String activation = left ? a : b;
        List<Dim> w = pass.constantShape(weight);
        if (w == null || w.size() != 2) {
            throw pass.unsupported(n, "has a weight '" + weight + "' of shape " + w + "; expected a 2-d constant");
        }
        if (pass.wants(activation)) {
            String wT = pass.emit("Transpose", List.of(weight), Attribute.ofLongs("perm", 1, 0));
            // Y = A W: dA = g W^T.  Y = W A: dA = W^T g.
            pass.contribute(activation, left ? pass.emit("MatMul", List.of(g, wT)) : pass.emit("MatMul", List.of(wT, g)));
        }
        if (pass.wants(weight)) {
            pass.contribute(weight, left ? rightWeight(g, activation, w, pass) : leftWeight(n, g, activation, pass));
        }
    }

    /**
     * Y = A B of two activations with the same batch axes (attention's scores q k^T and its
     * weighted values): dA = g B^T, dB = A^T g, transposing the last two axes. DeepLIFT uses this
     * gradient as it is (no rescale rule for a product of two activations).
     */
    private static void bilinear(Node n, String g, BackwardPass pass) {
        String a = n.inputs().get(0);
        String b = n.inputs().get(1);
        List<Dim> sa = pass.shape(a);
        List<Dim> sb = pass.shape(b);
        if (sa == null || sb == null || sa.size() != sb.size() || sa.size() < 2) {
            throw pass.unsupported(n, "multiplies activations of shapes " + sa + " and " + sb + "; a product of two"
                    + " activations needs both ranks known and equal (no broadcasting)");
        }
        if (pass.wants(a)) {
            pass.contribute(a, pass.emit("MatMul", List.of(g, lastTwoSwapped(b, sb.size(), pass))));
        }
        if (pass.wants(b)) {
            pass.contribute(b, pass.emit("MatMul", List.of(lastTwoSwapped(a, sa.size(), pass), g)));
        }
    }

    private static String lastTwoSwapped(String value, int rank, BackwardPass pass) {
        long[] perm = new long[rank];
        for (int i = 0; i < rank; i++) {
            perm[i] = i;
        }
        perm[rank - 2] = rank - 1;
        perm[rank - 1] = rank - 2;
        return pass.emit("Transpose", List.of(value), Attribute.ofLongs("perm", perm));
    }

    /** Y = A W: dW = sum over all rows of A (batch and positions) of A^T g. */
    private static String rightWeight(String g, String a, List<Dim> w, BackwardPass pass) {
        String rowsA = pass.emit("Reshape", List.of(a, pass.longs(-1, w.get(0).value())));
        String rowsG = pass.emit("Reshape", List.of(g, pass.longs(-1, w.get(1).value())));
        return pass.emit("Gemm", List.of(rowsA, rowsG), Attribute.ofLong("transA", 1));
    }

    /** Y = W A with A [K, N]: dW = g A^T. */
    private static String leftWeight(Node n, String g, String a, BackwardPass pass) {
        List<Dim> s = pass.shape(a);
        if (s == null || s.size() != 2) {
            throw pass.unsupported(n, "multiplies its weight by an activation of shape " + s + "; a weight on the"
                    + " left trains only with a 2-d activation");
        }
        return pass.emit("Gemm", List.of(g, a), Attribute.ofLong("transB", 1));
    }
}
