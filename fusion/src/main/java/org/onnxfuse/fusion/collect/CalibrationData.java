package org.onnxfuse.fusion.collect;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.NoSuchElementException;
import java.util.stream.Collectors;
import org.onnxfuse.fusion.data.BatchSource;
import org.onnxfuse.fusion.data.CsvArray;
import org.onnxfuse.fusion.data.DataShapes;
import org.onnxfuse.fusion.data.FloatBatch;
import org.onnxfuse.fusion.data.ImageFolder;
import org.onnxfuse.fusion.data.InputBatch;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.fusion.data.SampleArrays;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Calibration samples, read batch by batch: for one model input a {@code .npy} file (read
 * and decoded one batch at a time) or an array already in memory; for several, an {@code .npz}
 * archive keyed by input name ({@link InputArrays}), whose float methods ({@link #batch} and the
 * rest of {@link BatchSource}) read the main input and whose {@link #inputBatches} read them all. An instance made from a
 * file owns it until {@link #close()}. Not thread-safe.
 */
public interface CalibrationData extends BatchSource, AutoCloseable {

    /**
     * Samples {@code [first, first + count)} decoded into the start of {@code dst} (at least
     * {@code count * product(sampleShape())} long). The files and arrays made here override it
     * to allocate nothing; this default copies {@link #batch}.
     */
    @Override
    default void batchInto(long first, int count, float[] dst) {
        float[] v = batch(first, count).values();
        System.arraycopy(v, 0, dst, 0, v.length);
    }

    /**
     * The model inputs this data holds, by name; empty for one array, which feeds a model's only
     * input whatever it is called.
     */
    default List<String> inputNames() {
        return List.of();
    }

    /** The shape of the data for model input {@code input}, samples first (the one array's, for single-input data). */
    default long[] shapeOf(String input) {
        return shape();
    }

    /**
     * Checks the data of every model input in {@code inputs} against its declared shape, before
     * any batch is run.
     *
     * @throws DataException DATA_SHAPE naming the input and both shapes; DATA_FORMAT for one
     *     array given to a model with several inputs
     */
    default void checkShapes(List<ValueInfo> inputs) {
        if (inputNames().isEmpty() && inputs.size() > 1) {
            throw new DataException(ErrorCode.DATA_FORMAT, source() + " holds one array, but the model has the inputs "
                    + inputs.stream().map(v -> "'" + v.name() + "'").collect(Collectors.joining(", "))
                    + "; give one array per input, keyed by its name (an .npz)");
        }
        for (ValueInfo input : inputs) {
            if (input.tensorType() != null && input.tensorType().hasShape()) {
                String what = inputNames().isEmpty() ? source() : source() + ":" + input.name();
                DataShapes.check(what, shapeOf(input.name()), input.tensorType().dimsOrMinusOne(), input.name());
            }
        }
    }

    /**
     * Samples {@code [first, first + count)} of every input. {@code reuse}, a batch this method
     * returned before (or null), lends its arrays where their sizes fit: its values are then
     * overwritten, so loops that consume each batch at once allocate no arrays per batch.
     */
    default InputBatch inputBatch(long first, int count, InputBatch reuse) {
        long[] shape = shape();
        shape[0] = count;
        long size = 1;
        for (long d : shape) {
            size *= d;
        }
        float[] values = reuse != null && reuse.tensors().get(InputBatch.ONLY_INPUT) instanceof FloatBatch f
                && f.values().length == size ? f.values() : new float[Math.toIntExact(size)];
        batchInto(first, count, values);
        return InputBatch.of(new FloatBatch(first, count, shape, values));
    }

    /**
     * All samples of every input in order, {@code batchSize} at a time, decoded into arrays reused
     * from batch to batch (one set for full batches, one for a shorter last batch): a batch is
     * valid until the iterator's next {@code next()}.
     */
    default Iterable<InputBatch> inputBatches(int batchSize) {
        if (batchSize <= 0) {
            throw new IllegalArgumentException("batch size must be positive, got " + batchSize);
        }
        return () -> new Iterator<>() {
            private long next;
            private InputBatch full;
            private InputBatch tail;

            @Override
            public boolean hasNext() {
                return next < samples();
            }

            @Override
            public InputBatch next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                int count = (int) Math.min(batchSize, samples() - next);
                InputBatch b;
                if (count == batchSize) {
                    b = full = inputBatch(next, count, full);
                } else {
                    b = tail = inputBatch(next, count, tail);
                }
                next += count;
                return b;
            }
        };
    }

    /** The first {@code n} samples (all when n is 0 or at least {@link #samples()}); closing it closes this. */
    default CalibrationData limit(long n) {
        if (n < 0) {
            throw new IllegalArgumentException("sample limit must be >= 0, found " + n);
        }
        if (n == 0 || n >= samples()) {
            return this;
        }
        CalibrationData whole = this;
        return new CalibrationData() {
            @Override
            public String source() {
                return whole.source() + " (first " + n + " samples)";
            }

            @Override
            public long samples() {
                return n;
            }

            @Override
            public long[] sampleShape() {
                return whole.sampleShape();
            }

            @Override
            public FloatBatch batch(long first, int count) {
                if (first < 0 || first + count > n) {
                    throw new IndexOutOfBoundsException("samples " + first + ".." + (first + count) + " of " + n);
                }
                return whole.batch(first, count);
            }

            @Override
            public void batchInto(long first, int count, float[] dst) {
                if (first < 0 || first + count > n) {
                    throw new IndexOutOfBoundsException("samples " + first + ".." + (first + count) + " of " + n);
                }
                whole.batchInto(first, count, dst);
            }

            @Override
            public List<String> inputNames() {
                return whole.inputNames();
            }

            @Override
            public long[] shapeOf(String input) {
                long[] shape = whole.shapeOf(input);
                shape[0] = n;
                return shape;
            }

            @Override
            public InputBatch inputBatch(long first, int count, InputBatch reuse) {
                if (first < 0 || first + count > n) {
                    throw new IndexOutOfBoundsException("samples " + first + ".." + (first + count) + " of " + n);
                }
                return whole.inputBatch(first, count, reuse);
            }

            @Override
            public void close() {
                whole.close();
            }
        };
    }

    @Override
    void close();

    /** Opens a {@code .npy} file (float16/32/64 or integer images; samples first). */
    static CalibrationData open(Path npy) {
        return of(NpyArray.open(npy));
    }

    /**
     * The data for {@code plan}'s model: a {@code .npy} (or one {@code .npz} entry named after the
     * input) for a model with one input (exact integers for an int64 or bool one), an {@code .npz} with one array per input
     * ({@link InputArrays}) for a model with several.
     *
     * @throws DataException DATA_FORMAT for a {@code .npy} given to a model with several inputs;
     *     the errors of {@link InputArrays#open}
     */
    static CalibrationData open(Path file, LevelPlan plan) {
        return open(file, plan, ImageFolder.Normalisation.NONE);
    }

    /**
     * As {@link #open(Path, LevelPlan)}, also reading a folder of images ({@link ImageFolder},
     * normalised as given) or a CSV file ({@link CsvArray}) for a one-input model.
     */
    static CalibrationData open(Path file, LevelPlan plan, ImageFolder.Normalisation normalisation) {
        return open(file, plan, ImageFolder.Options.of(normalisation));
    }

    /**
     * As {@link #open(Path, LevelPlan)}, also reading a folder of images ({@link ImageFolder}, read
     * as {@code images} says) or a CSV file ({@link CsvArray}) for a one-input model.
     */
    static CalibrationData open(Path file, LevelPlan plan, ImageFolder.Options images) {
        if (plan.inputs().size() == 1 && Files.isDirectory(file)) {
            long[] shape = plan.mainInput().shape().stream().mapToLong(d -> d.isFixed() ? d.value() : -1).toArray();
            return of(ImageFolder.open(file, shape, images));
        }
        if (plan.inputs().size() == 1 && String.valueOf(file.getFileName()).toLowerCase(Locale.ROOT)
                .endsWith(".csv")) {
            long[] shape = plan.mainInput().shape().stream().mapToLong(d -> d.isFixed() ? d.value() : -1).toArray();
            return of(CsvArray.open(file, shape));
        }
        if (plan.inputs().size() == 1) {
            SampleArray array = SampleArrays.open(file, plan.input());
            return plan.mainInput().floating() ? of(array) : InputArrays.of(array, plan.mainInput());
        }
        if (!String.valueOf(file.getFileName()).endsWith(".npz")) {
            throw new DataException(ErrorCode.DATA_FORMAT, file + " holds one array, but the model has the inputs "
                    + plan.inputs().stream().map(in -> "'" + in.name() + "' (" + in.elementType() + ")")
                    .collect(Collectors.joining(", ")) + "; give an .npz with one array per input, keyed by its name");
        }
        return InputArrays.open(file, plan.inputs());
    }

    /** Adapts a sample array; closing the result closes it. */
    static CalibrationData of(SampleArray array) {
        return new CalibrationData() {
            @Override
            public String source() {
                return array.source();
            }

            @Override
            public long samples() {
                return array.samples();
            }

            @Override
            public long[] sampleShape() {
                return array.sampleShape();
            }

            @Override
            public FloatBatch batch(long first, int count) {
                return array.batch(first, count);
            }

            @Override
            public void batchInto(long first, int count, float[] dst) {
                array.readFloats(first, count, dst);
            }

            @Override
            public void close() {
                array.close();
            }
        };
    }

    /**
     * Wraps row-major float32 values of {@code shape} (samples first). The array is not copied:
     * the caller must not change it while fusion runs.
     */
    static CalibrationData ofArray(float[] values, long[] shape) {
        long[] s = shape.clone();
        if (s.length == 0) {
            throw new IllegalArgumentException("calibration shape must have a sample axis, found []");
        }
        long n = 1;
        for (long d : s) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in " + Arrays.toString(s));
            }
            n *= d;
        }
        if (n != values.length) {
            throw new IllegalArgumentException("calibration shape " + Arrays.toString(s) + " holds " + n
                    + " values, found " + values.length);
        }
        long[] sample = Arrays.copyOfRange(s, 1, s.length);
        int sampleSize = (int) (s[0] == 0 ? 0 : n / s[0]);
        return new CalibrationData() {
            @Override
            public String source() {
                return "in-memory array " + Arrays.toString(s);
            }

            @Override
            public long samples() {
                return s[0];
            }

            @Override
            public long[] sampleShape() {
                return sample.clone();
            }

            @Override
            public FloatBatch batch(long first, int count) {
                if (first < 0 || count < 0 || first + count > s[0]) {
                    throw new IndexOutOfBoundsException("samples " + first + ".." + (first + count) + " of " + s[0]);
                }
                int from = Math.toIntExact(first * sampleSize);
                float[] v = Arrays.copyOfRange(values, from, from + count * sampleSize);
                long[] bs = s.clone();
                bs[0] = count;
                return new FloatBatch(first, count, bs, v);
            }

            @Override
            public void batchInto(long first, int count, float[] dst) {
                if (first < 0 || count < 0 || first + count > s[0]) {
                    throw new IndexOutOfBoundsException("samples " + first + ".." + (first + count) + " of " + s[0]);
                }
                int from = Math.toIntExact(first * sampleSize);
                System.arraycopy(values, from, dst, 0, count * sampleSize);
            }

            @Override
            public void close() {
            }
        };
    }
}
