package org.onnxfuse.fusion.data;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;

/**
 * Calibration samples as a CSV file of numbers: one sample per line, its values separated by
 * commas (or semicolons, tabs or spaces), in the row-major order of the model input's shape
 * without the batch axis; an optional first line of column names is skipped. Read whole (CSV is
 * for small sets; use .npy beyond that). Same checks as for .npy: every value finite, every line
 * as long as the input needs.
 */
public final class CsvArray implements SampleArray {
    private final Path file;
    private final long[] shape;
    private final float[] values;

    private CsvArray(Path file, long[] shape, float[] values) {
        this.file = file;
        this.shape = shape;
        this.values = values;
    }

    /**
     * @param inputShape the model input's shape, samples first (-1 for the batch axis); the other
     *     axes must be fixed
     * @throws DataException DATA_FORMAT for a value that is no number or a line of the wrong length,
     *     DATA_SHAPE for an input with unknown sizes besides the batch
     */
    public static CsvArray open(Path file, long[] inputShape) {
        long perSample = 1;
        for (int i = 1; i < inputShape.length; i++) {
            if (inputShape[i] < 1) {
                throw new DataException(ErrorCode.DATA_SHAPE, file + ": a CSV feeds an input whose sizes are fixed but"
                        + " for the batch, found input shape " + Arrays.toString(inputShape) + "; give a .npy instead");
            }
            perSample *= inputShape[i];
        }
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new DataException(ErrorCode.DATA_FORMAT, file + ": cannot read the CSV file (" + e.getMessage() + ")");
        }
        List<float[]> rows = new ArrayList<>();
        for (int n = 0; n < lines.size(); n++) {
            String line = lines.get(n).strip();
            if (line.isEmpty()) {
                continue;
            }
            String[] cells = line.split("[,;\\t ]+");
            float[] row = new float[cells.length];
            boolean header = false;
            for (int c = 0; c < cells.length; c++) {
                try {
                    row[c] = Float.parseFloat(cells[c]);
                } catch (NumberFormatException e) {
                    if (n == 0) {
                        header = true;
                        break;
                    }
                    throw new DataException(ErrorCode.DATA_FORMAT, file + ": line " + (n + 1) + ", value " + (c + 1)
                            + ": expected a number, found '" + cells[c] + "'");
                }
                if (!Float.isFinite(row[c])) {
                    throw new DataException(ErrorCode.DATA_FORMAT, file + ": line " + (n + 1) + ", value " + (c + 1)
                            + ": expected a finite number, found " + cells[c]);
                }
            }
            if (header) {
                continue;
            }
            if (row.length != perSample) {
                throw new DataException(ErrorCode.DATA_FORMAT, file + ": line " + (n + 1) + " holds " + row.length
                        + " values, expected " + perSample + " per sample (input shape " + Arrays.toString(inputShape)
                        + ")");
            }
            rows.add(row);
        }
        if (rows.isEmpty()) {
            throw new DataException(ErrorCode.DATA_FORMAT, file + ": expected one line of numbers per sample, found"
                    + " none");
        }
        float[] values = new float[Math.toIntExact((long) rows.size() * perSample)];
        for (int r = 0; r < rows.size(); r++) {
            System.arraycopy(rows.get(r), 0, values, (int) (r * perSample), (int) perSample);
        }
        long[] shape = inputShape.clone();
        shape[0] = rows.size();
        return new CsvArray(file, shape, values);
    }

    @Override
    public String source() {
        return file.toString();
    }

    @Override
    public ArrayHeader header() {
        return new ArrayHeader(DType.FLOAT32, ByteOrder.LITTLE_ENDIAN, shape, false, 0);
    }

    @Override
    public float[] readFloats(long firstSample, int count) {
        int per = values.length / (int) shape[0];
        return Arrays.copyOfRange(values, Math.toIntExact(firstSample * per), Math.toIntExact((firstSample + count) * per));
    }

    @Override
    public long[] readLongs(long firstSample, int count) {
        throw new DataException(ErrorCode.DATA_DTYPE, source() + ": holds float32 samples, not integer labels");
    }

    @Override
    public void close() {
    }
}
