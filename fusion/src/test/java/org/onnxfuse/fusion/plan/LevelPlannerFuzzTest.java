package org.onnxfuse.fusion.plan;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.util.List;
import org.junit.jupiter.api.Timeout;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.ir.Model;

/**
 * Coverage-guided fuzzing of what {@code onnx-fuse plan} does with a model file: read, fold
 * constants, plan the levels, print the table and JSON, and check that the plan is compatible
 * with itself. Every refusal must be an {@link OnnxFuseException} (the CLI's exit codes);
 * anything else is a finding.
 *
 * <p>Plain {@code mvn test} replays the seeds in {@code LevelPlannerFuzzTestInputs/plan}; see
 * bench/README.md ("Fuzzing") for the long run.
 */
class LevelPlannerFuzzTest {
    static final int MAX_INPUT_BYTES = 1 << 16;

    /** A hang: fuzzing reports it as a timeout finding, the replay as a failure. */
    @Timeout(10)
    @FuzzTest
    void plan(byte[] bytes) {
        if (bytes.length > MAX_INPUT_BYTES) {
            return;
        }
        Model model;
        try {
            model = OnnxReader.parse(bytes, null);
        } catch (ModelFormatException refused) {
            return;
        }
        LevelPlan plan;
        try {
            plan = LevelPlanner.plan(ConstantFolding.fold(model));
        } catch (OnnxFuseException refused) {
            return;
        }
        PlanFormatter.table("fuzz.onnx", plan, true);
        PlanFormatter.toText(PlanFormatter.json("fuzz.onnx", plan));
        PlanComparison.requireCompatible(List.of(plan, plan), List.of("a.onnx", "b.onnx"));
    }
}
