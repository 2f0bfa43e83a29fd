package org.onnxfuse.fusion.cli;

import java.util.List;
import org.onnxfuse.fusion.evaluate.Confusion;

/**
 * Accuracies measured after fusing, from the confusion matrices (true class x predicted class) of
 * every parent, the ensemble (mean of softmax outputs, a reference only) and the fused model as
 * written (weights stored as {@code dtype}), on one labelled data set; {@code fusedFloat32} is the
 * fused model with float32 weights, measured only when {@code dtype} is narrower (else null), so the
 * cost of the narrower type shows.
 */
record AccuracySummary(String dataSource, long samples, List<String> parentNames, String dtype, Double fusedFloat32,
                       List<Confusion> parentConfusions, Confusion ensembleConfusion, Confusion fusedConfusion) {
    AccuracySummary {
        parentNames = List.copyOf(parentNames);
        parentConfusions = List.copyOf(parentConfusions);
    }

    List<Double> parents() {
        return parentConfusions.stream().map(Confusion::accuracy).toList();
    }

    double ensemble() {
        return ensembleConfusion.accuracy();
    }

    double fused() {
        return fusedConfusion.accuracy();
    }

    double bestParent() {
        return parents().stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
    }
}
