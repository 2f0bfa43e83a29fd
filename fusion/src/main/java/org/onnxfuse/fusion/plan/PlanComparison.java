package org.onnxfuse.fusion.plan;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;
import org.onnxfuse.fusion.ops.Shapes;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.IncompatibleModelsException;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/**
 * Checks that parents share one plan up to widths: the same input shape, the same number of
 * levels, the same ops in the same places with the same settings (kernel, strides, pads,
 * activation parameters...), cut shapes that differ at most on the neuron axis, and the same
 * number of classes at the last level. Every parent is compared with the first (the template);
 * the first difference is reported by node name and op type.
 */
public final class PlanComparison {
    private PlanComparison() {
    }

    /**
     * Throws {@link IncompatibleModelsException} (code {@link ErrorCode#INCOMPATIBLE_PARENTS}) at
     * the first difference between {@code plans.get(0)} and another plan.
     *
     * @param parentNames names used in messages (usually file names), one per plan
     */
    public static void requireCompatible(List<LevelPlan> plans, List<String> parentNames) {
        if (plans.size() != parentNames.size()) {
            throw new IllegalArgumentException(plans.size() + " plans but " + parentNames.size() + " names");
        }
        for (int k = 1; k < plans.size(); k++) {
            compare(plans.get(0), parentNames.get(0), plans.get(k), parentNames.get(k));
        }
    }

    /**
     * One input: alike shapes (names may differ, the data feeds each parent's only input). Several:
     * the same names in the same order (the data is fed by name), types and alike shapes.
     */
    private static void compareInputs(LevelPlan a, String an, LevelPlan b, String bn) {
        if (a.inputs().size() == 1 && b.inputs().size() == 1) {
            if (!alike(a.inputShape(), b.inputShape(), -1)) {
                throw mismatch(an + " has input '" + a.input() + "' of shape " + Shapes.format(a.inputShape())
                        + " where " + bn + " has input '" + b.input() + "' of shape " + Shapes.format(b.inputShape()));
            }
            return;
        }
        if (!describe(a.inputs()).equals(describe(b.inputs()))) {
            throw mismatch(an + " has inputs " + describe(a.inputs()) + " where " + bn + " has inputs "
                    + describe(b.inputs()) + "; parents with several inputs must share their names, types and shapes");
        }
    }

    private static String describe(List<ModelInput> inputs) {
        return inputs.stream().map(in -> "'" + in.name() + "' " + in.elementType() + " " + Shapes.format(
                in.shape().subList(1, in.shape().size()))).collect(java.util.stream.Collectors.joining(", "));
    }

    private static void compare(LevelPlan a, String an, LevelPlan b, String bn) {
        compareInputs(a, an, b, bn);
        if (a.levels().size() != b.levels().size()) {
            throw mismatch(an + " has " + a.levels().size() + " levels where " + bn + " has " + b.levels().size()
                    + " (level count " + a.levels().size() + " vs " + b.levels().size() + ")");
        }
        for (int i = 0; i < a.levels().size(); i++) {
            compareLevel(a.levels().get(i), an, b.levels().get(i), bn);
        }
        compareOps(a.joins(), an, b.joins(), bn, "among the joins of branches: ", "no further join",
                "no further join");
        for (int i = 0; i < a.levels().size(); i++) {
            Level x = a.levels().get(i);
            Level y = b.levels().get(i);
            if (x.space() != y.space() || !x.binding().spaces().equals(y.binding().spaces())
                    || x.depthwise() != y.depthwise()) {
                throw mismatch("at level " + x.index() + ": " + an + "'s " + quote(x.affine()) + " reads spaces "
                        + x.binding().spaces() + " and writes space " + x.space() + " where " + bn + "'s "
                        + quote(y.affine()) + " reads spaces " + y.binding().spaces() + " and writes space "
                        + y.space() + "; the parents' branches are wired differently");
            }
        }
        List<List<Integer>> aBlocks = a.blocks().stream().map(ResidualBlock::levels).toList();
        List<List<Integer>> bBlocks = b.blocks().stream().map(ResidualBlock::levels).toList();
        if (!aBlocks.equals(bBlocks)) {
            throw mismatch(an + " has residual blocks of levels " + aBlocks + " where " + bn + " has " + bBlocks
                    + "; the parents' skip connections are wired differently");
        }
        if (a.heads().size() != b.heads().size()) {
            throw mismatch(an + " has " + a.heads().size() + " outputs where " + bn + " has " + b.heads().size());
        }
        for (int i = 0; i < a.heads().size(); i++) {
            OutputHead x = a.heads().get(i);
            OutputHead y = b.heads().get(i);
            if (x.classLevel() != y.classLevel() || !alike(x.shape(), y.shape(), x.carriesClasses() ? -1 : 1)) {
                throw mismatch(an + " has output " + i + " '" + x.output() + "' of shape " + Shapes.format(x.shape())
                        + (x.carriesClasses() ? " (classes of level " + x.classLevel() + ")" : "") + " where " + bn
                        + " has '" + y.output() + "' of shape " + Shapes.format(y.shape())
                        + (y.carriesClasses() ? " (classes of level " + y.classLevel() + ")" : ""));
            }
            if (!x.output().equals(a.output())) {
                compareOps(x.trailing(), an, y.trailing(), bn, "before output '" + x.output() + "': ",
                        "the output '" + x.output() + "'", "the output '" + y.output() + "'");
            }
        }
        String where = "after the last level: ";
        compareOps(a.trailingOps(), an, b.trailingOps(), bn, where, "the model output '" + a.output() + "'",
                "the model output '" + b.output() + "'");
        if (!alike(a.outputShape(), b.outputShape(), -1)) {
            throw mismatch(an + " has output '" + a.output() + "' of shape " + Shapes.format(a.outputShape())
                    + " where " + bn + " has output '" + b.output() + "' of shape " + Shapes.format(b.outputShape()));
        }
    }

    private static void compareLevel(Level a, String an, Level b, String bn) {
        String where = "at level " + a.index() + ": ";
        compareOps(a.ops(), an, b.ops(), bn, where, quote(a.affine()), quote(b.affine()));
        if (!a.affineOpType().equals(b.affineOpType())) {
            throw mismatch(where + an + " has node " + quote(a.affine()) + " where " + bn + " has "
                    + quote(b.affine()));
        }
        String diff = firstDifference(a.affineSignature(), b.affineSignature());
        if (diff != null) {
            throw mismatch(where + an + " has node " + quote(a.affine()) + " with " + diff + " = "
                    + a.affineSignature().get(diff) + " where " + bn + " has " + quote(b.affine()) + " with " + diff
                    + " = " + b.affineSignature().get(diff));
        }
        if ((a.foldedNorm() == null) != (b.foldedNorm() == null)) {
            Level with = a.foldedNorm() != null ? a : b;
            throw mismatch(where + (with == a ? an : bn) + " has node " + quote(with.foldedNorm()) + " after "
                    + quote(with.affine()) + " where " + (with == a ? bn : an) + " has none after "
                    + quote((with == a ? b : a).affine()));
        }
        if (a.neuronAxis() != b.neuronAxis() || !alike(a.cutShape(), b.cutShape(), a.neuronAxis())) {
            throw mismatch(where + an + " has cut '" + a.cut() + "' of shape " + Shapes.format(a.cutShape())
                    + " (neurons on axis " + a.neuronAxis() + ") after " + quote(a.affine()) + " where " + bn
                    + " has '" + b.cut() + "' of shape " + Shapes.format(b.cutShape()) + " (neurons on axis "
                    + b.neuronAxis() + ") after " + quote(b.affine()) + "; cuts may differ in width only");
        }
        if (a.last() && a.width() != b.width()) {
            throw mismatch(where + an + " has " + a.width() + " output classes at " + quote(a.affine()) + " where "
                    + bn + " has " + b.width() + " at " + quote(b.affine()) + "; classes are never clustered, so"
                    + " every parent needs the same classes");
        }
    }

    /** Compares two op lists position by position; {@code aEnd}/{@code bEnd} describe what follows them. */
    private static void compareOps(List<LevelOp> a, String an, List<LevelOp> b, String bn, String where, String aEnd,
                                   String bEnd) {
        for (int i = 0; i < Math.max(a.size(), b.size()); i++) {
            String aDesc = i < a.size() ? a.get(i).describe() : aEnd;
            String bDesc = i < b.size() ? b.get(i).describe() : bEnd;
            if (i >= a.size() || i >= b.size() || !a.get(i).opType().equals(b.get(i).opType())) {
                throw mismatch(where + an + " has node " + aDesc + " where " + bn + " has " + bDesc);
            }
            LevelOp x = a.get(i);
            LevelOp y = b.get(i);
            String diff = firstDifference(x.signature(), y.signature());
            if (diff != null) {
                throw mismatch(where + an + " has node " + aDesc + " with " + diff + " = " + x.signature().get(diff)
                        + " where " + bn + " has " + bDesc + " with " + diff + " = " + y.signature().get(diff));
            }
            if (x.outputShape().size() != y.outputShape().size()) {
                throw mismatch(where + an + " has node " + aDesc + " with output shape "
                        + Shapes.format(x.outputShape()) + " where " + bn + " has " + bDesc + " with output shape "
                        + Shapes.format(y.outputShape()));
            }
        }
    }

    private static String firstDifference(Map<String, String> a, Map<String, String> b) {
        TreeSet<String> keys = new TreeSet<>(a.keySet());
        keys.addAll(b.keySet());
        for (String k : keys) {
            if (!Objects.equals(a.get(k), b.get(k))) {
                return k;
            }
        }
        return null;
    }

    /** Same rank and alike dims everywhere except {@code skipAxis}. */
    private static boolean alike(List<Dim> a, List<Dim> b, int skipAxis) {
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            if (i != skipAxis && !Shapes.alike(a.get(i), b.get(i))) {
                return false;
            }
        }
        return true;
    }

    private static String quote(Node n) {
        return "'" + n.name() + "' (" + n.opType() + ")";
    }

    private static IncompatibleModelsException mismatch(String detail) {
        String text = detail.startsWith("at level") || detail.startsWith("after the last level")
                ? "parents do not match " + detail : "parents do not match: " + detail;
        return new IncompatibleModelsException(ErrorCode.INCOMPATIBLE_PARENTS, text);
    }
}
