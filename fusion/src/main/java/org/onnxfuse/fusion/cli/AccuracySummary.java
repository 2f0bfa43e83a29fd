package org.onnxfuse.fusion.cli;

import java.util.List;
import org.onnxfuse.fusion.evaluate.Confusion;

/**
 * Accuracies measured after fusing: every parent, the ensemble (mean of softmax outputs, a
 * reference only) and the fused model as written (weights stored as {@code dtype}), on one labelled
 * data set; {@code fusedFloat32} is the fused model with float32 weights, measured only when
 * {@code dtype} is narrower (else null), so the cost of the narrower type shows. The confusion
 * matrices (true class x predicted class) give the per-class accuracies.
 */
record AccuracySummary(String dataSource, long samples, List<String> parentNames, List<Double> parents,
                       double ensemble, double fused, String dtype, Double fusedFloat32,
                       List<Confusion> parentConfusions, Confusion ensembleConfusion, Confusion fusedConfusion) {
    AccuracySummary {
        parentNames = List.copyOf(parentNames);
        parents = List.copyOf(parents);
        parentConfusions = List.copyOf(parentConfusions);
    }

    double bestParent() {
        return parents.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
    }
}
