package org.onnxfuse.fusion.data;

import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;

/** Checks data and label shapes against a model input before any batch is run. */
public final class DataShapes {
    private DataShapes() {
    }

    /**
     * Checks data of shape {@code [N, ...]} against a model input. Dimension 0 of the model is
     * the batch and accepts any N; other model dimensions {@code <= 0} are dynamic and accept
     * any size.
     *
     * @param what the data's name for the message, e.g. {@code calib.npy}
     * @param dataShape shape of the whole data array, samples first
     * @param modelInputShape the model input's shape, dynamic dimensions as {@code -1} (or 0)
     * @param inputName the model input's name
     * @throws DataException DATA_SHAPE naming both shapes and the expected data shape, e.g.
     *     {@code calib.npy: shape [400, 784] does not match model input 'input' [batch, 1, 28,
     *     28]; expected [N, 1, 28, 28]}; also when the data holds no samples
     */
    public static void check(String what, long[] dataShape, long[] modelInputShape, String inputName) {
        boolean matches = dataShape.length == modelInputShape.length && dataShape.length > 0;
        for (int i = 1; matches && i < dataShape.length; i++) {
            long m = modelInputShape[i];
            matches = m <= 0 || m == dataShape[i];
        }
        if (!matches) {
            throw new DataException(ErrorCode.DATA_SHAPE, what + ": shape " + Text.shape(dataShape)
                    + " does not match model input '" + inputName + "' " + modelShape(modelInputShape, "batch")
                    + "; expected " + modelShape(modelInputShape, "N"));
        }
        if (dataShape[0] == 0) {
            throw new DataException(ErrorCode.DATA_SHAPE, what + ": shape " + Text.shape(dataShape)
                    + " holds no samples; expected at least one sample for model input '"
                    + inputName + "' " + modelShape(modelInputShape, "batch"));
        }
    }

    /**
     * The batch size a model input is fixed to (its first dimension, when that is a number), or 0
     * when it is symbolic or unknown. Models exported without a dynamic batch axis (torch's
     * default) have 1 here and ONNX Runtime refuses any other batch size for them.
     */
    public static int fixedBatch(long[] modelInputShape) {
        return modelInputShape != null && modelInputShape.length > 0 && modelInputShape[0] > 0
                ? Math.toIntExact(modelInputShape[0]) : 0;
    }

    /**
     * Checks labels against the data: one integer per sample, shape {@code [N]} or
     * {@code [N, 1]}.
     *
     * @throws DataException DATA_SHAPE naming the found and expected shapes
     */
    public static void checkLabels(String what, long[] labelShape, long samples) {
        boolean column = labelShape.length == 1
                || (labelShape.length == 2 && labelShape[1] == 1);
        if (!column || labelShape[0] != samples) {
            throw new DataException(ErrorCode.DATA_SHAPE, what + ": labels of shape "
                    + Text.shape(labelShape) + " do not fit " + samples + " samples; expected ["
                    + samples + "] or [" + samples + ", 1] (one class index per sample)");
        }
    }

    /** {@code [batch, 1, ?, 28]}: dim 0 by name unless fixed, other dynamic dims as ?. */
    private static String modelShape(long[] shape, String batchName) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) {
                b.append(", ");
            }
            if (i == 0) {
                b.append(batchName);
            } else {
                b.append(shape[i] > 0 ? Long.toString(shape[i]) : "?");
            }
        }
        return b.append(']').toString();
    }
}
