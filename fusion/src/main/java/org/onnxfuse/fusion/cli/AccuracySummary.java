package org.onnxfuse.fusion.cli;

import java.util.List;

/**
 * Accuracies measured after fusing: every parent, the ensemble (mean of softmax outputs, a
 * reference only) and the fused model as written (weights stored as {@code dtype}), on one labelled
 * data set; {@code fusedFloat32} is the fused model with float32 weights, measured only when
 * {@code dtype} is narrower (else null), so the cost of the narrower type shows.
 */
record AccuracySummary(String dataSource, long samples, List<String> parentNames, List<Double> parents,
                       double ensemble, double fused, String dtype, Double fusedFloat32) {
    AccuracySummary {
        parentNames = List.copyOf(parentNames);
        parents = List.copyOf(parents);
    }

    double bestParent() {
        return parents.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
    }
}
