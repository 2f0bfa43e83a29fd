package org.onnxfuse.fusion.evaluate;

import org.onnxfuse.fusion.data.BatchSource;
import org.onnxfuse.fusion.data.DataShapes;
import org.onnxfuse.fusion.data.ImageFolder;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;

/** Class labels read alongside the data: one integer in [0, classes) per sample. */
public final class Labels {
    private Labels() {
    }

    /**
     * Checks that {@code labels} holds one label per sample of {@code data}.
     *
     * @throws DataException DATA_SHAPE naming both counts (or the label shape when it is not
     *     [N] or [N, 1])
     */
    public static void checkCount(SampleArray labels, BatchSource data) {
        if (labels.samples() != data.samples()) {
            throw new DataException(ErrorCode.DATA_SHAPE, labels.source() + " holds " + labels.samples()
                    + " labels but " + data.source() + " holds " + data.samples()
                    + " samples; expected one label per sample");
        }
        DataShapes.checkLabels(labels.source(), labels.header().shape(), data.samples());
    }

    /**
     * The labels of an image folder's class sub-folders, one per image in reading order: at most
     * {@code classes} classes, then each label checked as {@link #read} does.
     *
     * @throws DataException DATA_SHAPE for more classes than the model's outputs
     */
    public static long[] ofClassFolders(ImageFolder.ClassFolders folders, int classes) {
        folders.checkClasses(classes);
        try (SampleArray ys = folders.labelArray()) {
            return read(ys, 0, Math.toIntExact(ys.samples()), classes);
        }
    }

    /**
     * Labels {@code [first, first + count)}, each checked against the number of classes.
     *
     * @throws DataException DATA_FORMAT naming the first label outside [0, classes) and its index;
     *     DATA_DTYPE when the labels are not integers
     */
    public static long[] read(SampleArray labels, long first, int count, int classes) {
        long[] y = labels.readLongs(first, count);
        for (int i = 0; i < y.length; i++) {
            if (y[i] < 0 || y[i] >= classes) {
                throw new DataException(ErrorCode.DATA_FORMAT, labels.source() + ": label " + y[i] + " at index "
                        + (first + i) + " is outside the model's classes [0, " + classes + ")");
            }
        }
        return y;
    }
}
