package org.onnxfuse.fusion.pipeline;

import org.onnxfuse.fusion.train.TrainingResult;

/**
 * What fusing one level did, for the report.
 *
 * @param level            1-based index
 * @param opType           Gemm, MatMul or Conv
 * @param cut              the cut tensor's name
 * @param method           "KF", "HF" or "class mean"
 * @param width            fused width k
 * @param fanIn            d (ones column included)
 * @param samples          calibration samples
 * @param rows             rows of X (samples x positions)
 * @param relativeResidual ||X W_fused - A U|| / ||A U||, the fit error of the written weights
 * @param groupingCost     sum_i s_i ||X w_group(i) - a_i|| (at the last level the groups are the classes;
 *                         0 for a level in a shared neuron space, grouped with its space)
 * @param inferenceMillis  ONNX Runtime time
 * @param statisticsMillis im2col/row building and accumulation time
 * @param groupingMillis   grouping time
 * @param solveMillis      least squares, fit error and write-back time
 * @param warning          a warning for this level (fewer rows than fan-in), or null
 * @param training         what training the level did (the gradient variant), or null for a linear fit;
 *                         {@code relativeResidual} is then the linear fit's, and the trained level's
 *                         loss is the training's best validation loss
 */
public record LevelReport(int level, String opType, String cut, String method, int width, int fanIn, long samples,
                          long rows, double relativeResidual, double groupingCost, double inferenceMillis,
                          double statisticsMillis, double groupingMillis, double solveMillis, String warning,
                          TrainingResult training) {
    /** A linear fit's report. */
    public LevelReport(int level, String opType, String cut, String method, int width, int fanIn, long samples,
                       long rows, double relativeResidual, double groupingCost, double inferenceMillis,
                       double statisticsMillis, double groupingMillis, double solveMillis, String warning) {
        this(level, opType, cut, method, width, fanIn, samples, rows, relativeResidual, groupingCost, inferenceMillis,
                statisticsMillis, groupingMillis, solveMillis, warning, null);
    }
}
