package org.onnxfuse.fusion.pipeline;

import org.onnxfuse.fusion.collect.StatisticsCollector.RowMap;

/**
 * Class targets for a last level whose cut is followed by a Relu before the output (a
 * SqueezeNet-style head: Conv, Relu, GlobalAveragePool). The fused class c is fitted to the
 * weighted mean over parents of their class-c columns; averaged before the Relu, that mean is not
 * what the parents output after it (Relu(mean) is not mean(Relu)). Where some parent's class c is
 * positive in a row, every parent's entry is replaced by its Relu, so the weighted mean of the
 * rewritten entries is the weighted mean of the parents' outputs after the Relu, which the fused
 * Relu keeps; where none is positive, the raw entries stay, their mean is not positive either, and
 * the fused Relu gives 0 like every parent. Holds for any non-negative class weights.
 */
final class RectifiedClassTargets implements RowMap {
    private final int parents;
    private final int classes;

    RectifiedClassTargets(int parents, int classes) {
        if (parents < 1 || classes < 1) {
            throw new IllegalArgumentException(parents + " parents of " + classes + " classes");
        }
        this.parents = parents;
        this.classes = classes;
    }

    @Override
    public void apply(float[] a, int m, int rows) {
        if (m != parents * classes) {
            throw new IllegalStateException("class targets of " + parents + " parents x " + classes
                    + " classes, but a batch of " + m + " columns");
        }
        for (int r = 0; r < rows; r++) {
            int row = r * m;
            for (int c = 0; c < classes; c++) {
                boolean positive = false;
                for (int k = 0; k < parents && !positive; k++) {
                    positive = a[row + k * classes + c] > 0;
                }
                if (positive) {
                    for (int k = 0; k < parents; k++) {
                        int i = row + k * classes + c;
                        a[i] = Math.max(a[i], 0f);
                    }
                }
            }
        }
    }
}
