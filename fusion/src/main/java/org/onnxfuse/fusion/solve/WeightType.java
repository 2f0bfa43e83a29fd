package org.onnxfuse.fusion.solve;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.DataType;

/**
 * The element type the fused model's weights are stored in ({@code --dtype}); the computation that
 * finds them is float64 whatever this says, and the model still computes in float32 (see
 * {@link StoredWeights}).
 */
public enum WeightType {
    FLOAT32("float32", DataType.FLOAT, 7),
    FLOAT16("float16", DataType.FLOAT16, 7),
    /** Cast from bfloat16 exists from opset 13 on. */
    BFLOAT16("bfloat16", DataType.BFLOAT16, 13);

    private final String cliName;
    private final DataType dataType;
    private final int minimumOpset;

    WeightType(String cliName, DataType dataType, int minimumOpset) {
        this.cliName = cliName;
        this.dataType = dataType;
        this.minimumOpset = minimumOpset;
    }

    public String cliName() {
        return cliName;
    }

    public DataType dataType() {
        return dataType;
    }

    /** The lowest default-domain opset whose Cast reads this type. */
    public int minimumOpset() {
        return minimumOpset;
    }

    /** The type called {@code name} on the command line, e.g. "float16". */
    public static WeightType fromName(String name) {
        String wanted = name.strip().toLowerCase(Locale.ROOT);
        return Arrays.stream(values()).filter(t -> t.cliName.equals(wanted)).findFirst()
                .orElseThrow(() -> new OnnxFuseException(ErrorCode.USAGE, "unknown weight type '" + name
                        + "'; expected one of " + names()));
    }

    public static List<String> names() {
        return Arrays.stream(values()).map(WeightType::cliName).toList();
    }
}
