package org.onnxfuse.fusion.baseline;

import java.util.Arrays;
import java.util.List;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.Model;

/** The baselines by their command-line names (ALGORITHM.md section 7; the ensemble is in evaluate). */
public enum BaselineMethod {
    AVERAGE(VanillaAverage.NAME, false),
    WEIGHT_MATCH(WeightMatching.NAME, false),
    ACT_MATCH(ActivationMatching.NAME, true);

    private final String cliName;
    private final boolean needsData;

    BaselineMethod(String cliName, boolean needsData) {
        this.cliName = cliName;
        this.needsData = needsData;
    }

    public String cliName() {
        return cliName;
    }

    /** Whether the method runs the parents on calibration data. */
    public boolean needsData() {
        return needsData;
    }

    /** The method called {@code name}, e.g. "weight-match". */
    public static BaselineMethod fromName(String name) {
        return Arrays.stream(values()).filter(m -> m.cliName.equals(name)).findFirst()
                .orElseThrow(() -> new OnnxFuseException(ErrorCode.USAGE, "unknown baseline '" + name + "'; expected one of "
                        + Arrays.stream(values()).map(BaselineMethod::cliName).toList()));
    }

    /**
     * Fuses {@code parents} (parent 0 is the template).
     *
     * @param calibration required when {@link #needsData()}, otherwise ignored (may be null)
     */
    public Model fuse(List<Model> parents, SampleArray calibration, int batchSize, int threads) {
        return switch (this) {
            case AVERAGE -> VanillaAverage.fuse(parents);
            case WEIGHT_MATCH -> WeightMatching.fuse(parents);
            case ACT_MATCH -> {
                if (calibration == null) {
                    throw new OnnxFuseException(ErrorCode.USAGE, cliName + " needs calibration data (--data)");
                }
                yield ActivationMatching.fuse(parents, calibration, batchSize, threads);
            }
        };
    }
}
