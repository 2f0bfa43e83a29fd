package org.onnxfuse.fusion.pipeline;

import java.util.List;
import java.util.Optional;
import org.onnxfuse.fusion.collect.LevelStatistics;
import org.onnxfuse.fusion.ops.AffineWeights;
import org.onnxfuse.fusion.plan.InputLayout;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelWeights;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.onnx.ir.Model;

/**
 * The parents' own weights of a level, expressed on the fused model's input features, as the
 * centre W0 of the ridge (see {@link org.onnxfuse.fusion.group.ProjectedTargets}). At the first
 * level the fused input is the model input, the parents' basis. At a later level, fused input
 * neuron g stands for the parent neurons grouped into it at the previous level, so parent k's row
 * for g is the sum of its rows of the members it has in g, copy by copy ({@link InputLayout}: Conv
 * kernel offsets, or the positions a Flatten spread each channel over, channels first or last). Columns are the parents' neurons
 * in statistics order. Returns null when the shapes do not line up (then the plain ridge applies).
 */
final class Priors {
    private Priors() {
    }

    /**
     * @param previous the previous level's assignment of parent neurons to fused neurons
     *                 ({@link org.onnxfuse.fusion.group.Grouping#assignment()}, -1: unused), null
     *                 at the first level
     * @param previousWidths parents' widths at the previous cut; {@code previousK} the fused width there
     */
    static DenseMatrix of(List<Model> parents, List<LevelPlan> plans, int level, LevelStatistics stats, int[] previous,
                          List<Integer> previousWidths, int previousK) {
        int d = stats.fanIn();
        int m = stats.targets();
        boolean bias = stats.hasBias();
        double[] p = new double[d * m];
        int in = d - (bias ? 1 : 0);
        for (int k = 0; k < parents.size(); k++) {
            AffineWeights w = LevelWeights.read(parents.get(k).graph(), plans.get(k).level(level));
            if (w.hasBias() != bias || w.cols() != stats.parentWidths().get(k)) {
                return null;
            }
            int colOffset = stats.offset(k);
            int parentIn = w.inFeatures();
            if (previous == null) {
                if (parentIn != in) {
                    return null;
                }
                for (int i = 0; i < in; i++) {
                    for (int j = 0; j < w.cols(); j++) {
                        p[i + (colOffset + j) * d] = w.get(i, j);
                    }
                }
            } else {
                int nPrev = previousWidths.get(k);
                Optional<InputLayout> layout = InputLayout.of(plans.get(k).level(level - 1), plans.get(k).level(level));
                if (layout.isEmpty()) {
                    return null;
                }
                long copies = layout.get().featuresPerNeuron();
                if (parentIn != copies * nPrev || in != copies * previousK) {
                    return null;
                }
                int prevOffset = 0;
                for (int q = 0; q < k; q++) {
                    prevOffset += previousWidths.get(q);
                }
                for (int src = 0; src < nPrev; src++) {
                    int g = previous[prevOffset + src];
                    if (g < 0) {
                        continue;
                    }
                    for (long c = 0; c < copies; c++) {
                        int row = layout.get().feature(src, nPrev, c);
                        int fusedRow = layout.get().feature(g, previousK, c);
                        for (int j = 0; j < w.cols(); j++) {
                            p[fusedRow + (colOffset + j) * d] += w.get(row, j);
                        }
                    }
                }
            }
            if (bias) {
                for (int j = 0; j < w.cols(); j++) {
                    p[in + (colOffset + j) * d] = w.get(parentIn, j);
                }
            }
        }
        return new DenseMatrix(d, m, p);
    }
}
