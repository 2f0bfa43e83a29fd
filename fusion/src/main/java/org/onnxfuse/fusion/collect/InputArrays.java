package org.onnxfuse.fusion.collect;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.onnxfuse.fusion.data.DType;
import org.onnxfuse.fusion.data.DataShapes;
import org.onnxfuse.fusion.data.FloatBatch;
import org.onnxfuse.fusion.data.InputBatch;
import org.onnxfuse.fusion.data.InputTensor;
import org.onnxfuse.fusion.data.IntegerBatch;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.data.NpzArchive;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.fusion.data.SampleArrays;
import org.onnxfuse.fusion.plan.ModelInput;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Dim;

/**
 * One array per model input, all with the same number of samples: an {@code .npz} archive keyed
 * by input name for a model with several inputs, or the {@code .npy} of a model whose one input is
 * int64 or bool. Float inputs are
 * decoded to float32 like a {@code .npy}; int64 and bool inputs are read exactly. Everything is
 * checked when the archive is opened, so bad data fails before any work. The float methods of
 * {@link CalibrationData} read the main input ({@link org.onnxfuse.fusion.plan.LevelPlan#mainInput}).
 * Owns its files until {@link #close()}; not thread-safe.
 */
public final class InputArrays implements CalibrationData {
    private record Entry(ModelInput input, SampleArray array) {
    }

    private final String source;
    private final AutoCloseable files;
    private final List<Entry> entries;
    private final Entry main;

    private InputArrays(String source, AutoCloseable files, List<Entry> entries) {
        this.source = source;
        this.files = files;
        this.entries = List.copyOf(entries);
        this.main = entries.stream().filter(e -> e.input().floating()).findFirst().orElse(entries.get(0));
    }

    /**
     * Opens {@code npz} for {@code inputs} (every graph input of the model, in order).
     *
     * @throws DataException DATA_FORMAT for a missing or an extra array, DATA_DTYPE for an array
     *     whose dtype does not fit its input's element type, DATA_SHAPE for arrays with different
     *     sample counts or a shape that does not match its input
     */
    public static InputArrays open(Path npz, List<ModelInput> inputs) {
        NpzArchive archive;
        try {
            archive = NpzArchive.open(npz);
        } catch (DataException e) {
            throw SampleArrays.explainForeign(npz, e);
        }
        try {
            String expected = inputs.stream().map(i -> "'" + i.name() + "'").collect(Collectors.joining(", "));
            String found = archive.names().stream().map(n -> "'" + n + "'").collect(Collectors.joining(", "));
            for (ModelInput in : inputs) {
                if (!archive.contains(in.name())) {
                    throw new DataException(ErrorCode.DATA_FORMAT, npz + ": no array '" + in.name() + "' for model"
                            + " input '" + in.name() + "' (" + in.elementType() + "); found arrays " + found
                            + "; expected one array per model input: " + expected);
                }
            }
            for (String name : archive.names()) {
                if (inputs.stream().noneMatch(i -> i.name().equals(name))) {
                    throw new DataException(ErrorCode.DATA_FORMAT, npz + ": array '" + name + "' is not a model"
                            + " input; expected exactly the arrays " + expected + " (one per model input)");
                }
            }
            List<Entry> entries = new ArrayList<>();
            for (ModelInput in : inputs) {
                NpyArray array = archive.array(in.name());
                checkDtype(array, in);
                entries.add(new Entry(in, array));
            }
            checkSampleCounts(npz, entries);
            for (Entry e : entries) {
                long[] dims = e.input().shape().stream().mapToLong(Dim::sizeOrMinusOne).toArray();
                DataShapes.check(e.array().source(), e.array().header().shape(), dims, e.input().name());
            }
            return new InputArrays(String.valueOf(npz), archive, entries);
        } catch (RuntimeException e) {
            archive.close();
            throw e;
        }
    }

    /**
     * The one array of a model with one input, which may be int64 or bool; closing the result
     * closes {@code array}.
     *
     * @throws DataException as {@link #open}
     */
    public static InputArrays of(SampleArray array, ModelInput input) {
        try {
            checkDtype(array, input);
            long[] dims = input.shape().stream().mapToLong(Dim::sizeOrMinusOne).toArray();
            DataShapes.check(array.source(), array.header().shape(), dims, input.name());
            return new InputArrays(array.source(), array, List.of(new Entry(input, array)));
        } catch (RuntimeException e) {
            array.close();
            throw e;
        }
    }

    private static void checkDtype(SampleArray array, ModelInput in) {
        DType dtype = array.header().dtype();
        boolean fits = switch (in.elementType()) {
            case INT64 -> dtype.isInteger() && dtype != DType.BOOL;
            case BOOL -> dtype == DType.BOOL;
            default -> dtype != DType.BOOL;
        };
        if (!fits) {
            String wanted = switch (in.elementType()) {
                case INT64 -> "an integer array (int64, int32, int16, int8 or uint8)";
                case BOOL -> "a bool array";
                default -> "a float or integer array (float32, float64, float16, uint8, int64, ...)";
            };
            throw new DataException(ErrorCode.DATA_DTYPE, array.source() + ": dtype " + dtype.numpyName()
                    + " does not match model input '" + in.name() + "' of element type " + in.elementType()
                    + "; expected " + wanted);
        }
    }

    private static void checkSampleCounts(Path npz, List<Entry> entries) {
        long first = entries.get(0).array().samples();
        if (entries.stream().anyMatch(e -> e.array().samples() != first)) {
            throw new DataException(ErrorCode.DATA_SHAPE, npz + ": the arrays hold different numbers of samples ("
                    + entries.stream().map(e -> "'" + e.input().name() + "' " + e.array().samples())
                    .collect(Collectors.joining(", ")) + "); every input needs the same first dimension");
        }
    }

    @Override
    public String source() {
        return source;
    }

    @Override
    public long samples() {
        return main.array().samples();
    }

    @Override
    public long[] sampleShape() {
        return main.array().sampleShape();
    }

    @Override
    public FloatBatch batch(long first, int count) {
        return main.array().batch(first, count);
    }

    @Override
    public void batchInto(long first, int count, float[] dst) {
        main.array().readFloats(first, count, dst);
    }

    @Override
    public List<String> inputNames() {
        return entries.stream().map(e -> e.input().name()).toList();
    }

    @Override
    public long[] shapeOf(String input) {
        return entries.stream().filter(e -> e.input().name().equals(input)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no array for input '" + input + "'; found "
                        + inputNames()))
                .array().header().shape();
    }

    @Override
    public InputBatch inputBatch(long first, int count, InputBatch reuse) {
        Map<String, InputTensor> tensors = new LinkedHashMap<>();
        for (Entry e : entries) {
            String name = e.input().name();
            long[] shape = e.array().header().shape();
            shape[0] = count;
            int size = Math.toIntExact(Arrays.stream(shape).reduce(1, Math::multiplyExact));
            InputTensor previous = reuse == null ? null : reuse.tensors().get(name);
            if (e.input().elementType() == DataType.FLOAT) {
                float[] values = previous instanceof FloatBatch f && f.values().length == size ? f.values()
                        : new float[size];
                e.array().readFloats(first, count, values);
                tensors.put(name, new FloatBatch(first, count, shape, values));
            } else {
                long[] values = previous instanceof IntegerBatch b && b.values().length == size ? b.values()
                        : new long[size];
                e.array().readLongs(first, count, values);
                tensors.put(name, new IntegerBatch(first, count, shape, values));
            }
        }
        return new InputBatch(first, count, tensors);
    }

    @Override
    public void close() {
        try {
            files.close();
        } catch (Exception e) {
            throw new IllegalStateException("closing " + source + ": " + e.getMessage(), e);
        }
    }
}
