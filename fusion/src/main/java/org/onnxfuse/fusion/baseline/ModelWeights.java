package org.onnxfuse.fusion.baseline;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;
import org.onnxfuse.fusion.ops.AffineWeights;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelWeights;
import org.onnxfuse.fusion.plan.PerNeuronOp;
import org.onnxfuse.fusion.solve.LevelWriter;
import org.onnxfuse.fusion.solve.NormWriter;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.onnx.ir.Graph;

/**
 * One model's parameters as the baselines align and average them, in plan order: each level's
 * fan-in x width matrix (row-major: rows are input features then the bias, columns neurons; a
 * folded BatchNormalization applied, {@link LevelWeights}) and each per-neuron op's affine form
 * {a, b} (per position where the op has positions), one value per channel ({@link NormWriter#affineForm}). The arrays are shared: do not
 * modify them.
 */
final class ModelWeights {
    private final List<double[][]> levels;
    private final List<double[][]> perNeuron;

    ModelWeights(List<double[][]> levels, List<double[][]> perNeuron) {
        this.levels = List.copyOf(levels);
        this.perNeuron = List.copyOf(perNeuron);
    }

    /** Reads every level's and per-neuron op's weights from {@code graph}, the graph {@code plan} was made of. */
    static ModelWeights read(Graph graph, LevelPlan plan) {
        List<double[][]> levels = new ArrayList<>();
        for (Level level : plan.levels()) {
            levels.add(toRows(LevelWeights.read(graph, level)));
        }
        List<double[][]> ops = new ArrayList<>();
        for (PerNeuronOp op : plan.perNeuron()) {
            ops.add(NormWriter.affineForm(graph, op));
        }
        return new ModelWeights(levels, ops);
    }

    private static double[][] toRows(AffineWeights w) {
        double[][] out = new double[w.rows()][w.cols()];
        for (int r = 0; r < w.rows(); r++) {
            for (int c = 0; c < w.cols(); c++) {
                out[r][c] = w.get(r, c);
            }
        }
        return out;
    }

    /** Level {@code index}'s matrix, 1-based like {@link Level#index()}. */
    double[][] level(int index) {
        return levels.get(index - 1);
    }

    List<double[][]> levels() {
        return levels;
    }

    /** The form ({a, b}, per position where it has positions) of per-neuron op {@code i} of the plan. */
    double[][] perNeuron(int i) {
        return perNeuron.get(i);
    }

    List<double[][]> perNeuron() {
        return perNeuron;
    }

    /**
     * {@code graph} (the graph {@code plan} was made of) with the levels and per-neuron ops that
     * {@code writeLevel} and {@code writeOp} accept set to these weights: levels by
     * {@link LevelWriter} (a folded BatchNormalization of a written level is removed), per-neuron
     * ops by {@link NormWriter#writeAffine}.
     */
    Graph write(Graph graph, LevelPlan plan, Predicate<Level> writeLevel, Predicate<PerNeuronOp> writeOp) {
        Graph out = graph;
        List<Level> planned = plan.levels();
        for (int l = 0; l < planned.size(); l++) {
            if (writeLevel.test(planned.get(l))) {
                Level next = plan.sequential() && l + 1 < planned.size() ? planned.get(l + 1) : null;
                out = LevelWriter.write(out, planned.get(l), next, DenseMatrix.fromRows(levels.get(l)));
            }
        }
        for (int i = 0; i < plan.perNeuron().size(); i++) {
            PerNeuronOp op = plan.perNeuron().get(i);
            if (writeOp.test(op)) {
                out = NormWriter.writeAffine(out, op, perNeuron.get(i));
            }
        }
        return out;
    }
}
