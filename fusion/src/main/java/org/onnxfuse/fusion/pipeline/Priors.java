package org.onnxfuse.fusion.pipeline;

import java.util.List;
import java.util.Map;
import org.onnxfuse.fusion.ops.AffineWeights;
import org.onnxfuse.fusion.plan.InputBinding;
import org.onnxfuse.fusion.plan.InputLayout;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelWeights;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.onnx.ir.Model;

/**
 * The parents' own weights of a level, expressed on the fused model's input features, as the
 * centre W0 of the ridge (see {@link org.onnxfuse.fusion.group.ProjectedTargets}). A level that
 * reads the model input reads the parents' basis. Otherwise each fused input neuron g of a space
 * stands for the parent neurons grouped into it, so parent k's row for g is the sum of its rows of
 * the members it has in g, copy by copy ({@link InputLayout}: Conv kernel offsets, or the
 * positions a Flatten spread each channel over), each space at its offset when a Concat stacked
 * several ({@link InputBinding}). Columns are the parents' neurons in statistics order. Returns
 * null when the shapes do not line up (then the plain ridge applies).
 */
final class Priors {
    private Priors() {
    }

    /**
     * @param level   1-based level index
     * @param fanIn   d, the fused input features (the ones column included)
     * @param widths  the parents' widths at the level's cut, in statistics order
     * @param hasBias whether the fused op has a bias row
     * @param spaces  the fused spaces so far, by space id: every space the level reads
     */
    static DenseMatrix of(List<Model> parents, List<LevelPlan> plans, int level, int fanIn, List<Integer> widths,
                          boolean hasBias, Map<Integer, FusedSpace> spaces) {
        int d = fanIn;
        int m = widths.stream().mapToInt(Integer::intValue).sum();
        double[] p = new double[d * m];
        int in = d - (hasBias ? 1 : 0);
        int colOffset = 0;
        for (int k = 0; k < parents.size(); k++) {
            AffineWeights w = LevelWeights.read(parents.get(k).graph(), plans.get(k).level(level));
            if (w.hasBias() != hasBias || w.cols() != widths.get(k)) {
                return null;
            }
            int parentIn = w.inFeatures();
            InputBinding binding = plans.get(k).level(level).binding();
            if (binding.readsModelInput()) {
                if (parentIn != in) {
                    return null;
                }
                for (int i = 0; i < in; i++) {
                    for (int j = 0; j < w.cols(); j++) {
                        p[i + (colOffset + j) * d] = w.get(i, j);
                    }
                }
            } else if (!addMappedRows(w, binding, k, spaces, p, d, colOffset, in)) {
                return null;
            }
            if (hasBias) {
                for (int j = 0; j < w.cols(); j++) {
                    p[in + (colOffset + j) * d] = w.get(parentIn, j);
                }
            }
            colOffset += w.cols();
        }
        return DenseMatrix.handedOver(d, m, p); // d x m: not held twice
    }

    /** Adds parent {@code k}'s rows onto the fused input features; false when the shapes do not line up. */
    private static boolean addMappedRows(AffineWeights w, InputBinding binding, int k, Map<Integer, FusedSpace> spaces,
                                         double[] p, int d, int colOffset, int in) {
        if (binding.knownLayout().isEmpty()) {
            return false;
        }
        InputLayout layout = binding.layout();
        int parentTotal = 0;
        int fusedTotal = 0;
        for (int s : binding.spaces()) {
            FusedSpace space = spaces.get(s);
            if (space == null) {
                return false;
            }
            parentTotal += space.parentWidths().get(k);
            fusedTotal += space.width();
        }
        long copies = layout.featuresPerNeuron();
        if (w.inFeatures() != copies * parentTotal || in != copies * fusedTotal) {
            return false;
        }
        int parentOffset = 0;
        int fusedOffset = 0;
        for (int s : binding.spaces()) {
            FusedSpace space = spaces.get(s);
            int n = space.parentWidths().get(k);
            int first = space.offset(k);
            int[] assignment = space.grouping().assignment();
            for (int src = 0; src < n; src++) {
                int g = assignment[first + src];
                if (g < 0) {
                    continue;
                }
                for (long c = 0; c < copies; c++) {
                    int row = layout.feature(src, parentOffset, parentTotal, c);
                    int fusedRow = layout.feature(g, fusedOffset, fusedTotal, c);
                    for (int j = 0; j < w.cols(); j++) {
                        p[fusedRow + (colOffset + j) * d] += w.get(row, j);
                    }
                }
            }
            parentOffset += n;
            fusedOffset += space.width();
        }
        return true;
    }
}
