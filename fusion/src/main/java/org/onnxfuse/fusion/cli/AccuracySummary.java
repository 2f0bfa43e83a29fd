package org.onnxfuse.fusion.cli;

import java.util.List;

/**
 * Accuracies measured after fusing: every parent, the ensemble (mean of softmax outputs, a
 * reference only) and the fused model, on one labelled data set.
 */
record AccuracySummary(String dataSource, long samples, List<String> parentNames, List<Double> parents,
                       double ensemble, double fused) {
    AccuracySummary {
        parentNames = List.copyOf(parentNames);
        parents = List.copyOf(parents);
    }

    double bestParent() {
        return parents.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
    }
}
