package org.onnxfuse.fusion.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.onnxfuse.fusion.data.DataShapes;
import org.onnxfuse.fusion.data.Finite;
import org.onnxfuse.fusion.data.FloatBatch;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.data.NpzArchive;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.PlanComparison;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.errors.OutputException;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Model;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code onnx-fuse a.onnx b.onnx [...] --data calib.npy -o fused.onnx}. This build checks
 * everything the fusion needs (parents readable and sharing one plan, data matching the input,
 * finite, output not an input) and then stops: the solve stage is not part of it yet.
 */
@Command(name = "onnx-fuse", mixinStandardHelpOptions = true, version = "onnx-fuse 0.1.0-SNAPSHOT",
        description = "Fuses several trained ONNX models into one by neuron interpolation.",
        footer = "%nCommands:%n  plan   print the level plan of one or more models")
public final class FuseCommand implements Callable<Integer> {
    private static final int CHECK_BATCH = 256;

    @Spec
    private CommandSpec spec;

    @Parameters(paramLabel = "PARENT.onnx", arity = "0..*", description = "parent models, best first")
    private List<Path> parents = new ArrayList<>();

    @Option(names = "--data", paramLabel = "FILE", description = "calibration data (.npy or .npz)")
    private Path data;

    @Option(names = {"-o", "--output"}, paramLabel = "FILE", description = "where to write the fused model")
    private Path output;

    @Option(names = "--verbose", description = "stack traces on errors")
    private boolean verbose;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        if (parents.isEmpty()) {
            spec.commandLine().usage(out);
            return 0;
        }
        if (parents.size() < 2) {
            throw new OnnxFuseException(ErrorCode.USAGE, "fusion needs at least 2 parent models, found "
                    + parents.size() + " (" + parents.get(0) + ")");
        }
        checkOutputIsNotAnInput();
        List<LevelPlan> plans = new ArrayList<>();
        List<String> names = new ArrayList<>();
        for (Path parent : parents) {
            Model model = OnnxReader.read(parent);
            plans.add(LevelPlanner.plan(model));
            names.add(parent.getFileName().toString());
        }
        PlanComparison.requireCompatible(plans, names);
        LevelPlan plan = plans.get(0);
        out.printf("%d parents share one plan of %d levels (widths of %s: %s)%n", parents.size(),
                plan.levels().size(), names.get(0), plan.widths());
        if (data != null) {
            long samples = checkData(plan);
            out.printf("calibration data %s: %d samples, finite, shaped like input '%s'%n", data, samples,
                    plan.input());
        }
        throw new OnnxFuseException(ErrorCode.NOT_IN_THIS_BUILD,
                "the checks passed, but the neuron-interpolation solve is not part of this build yet; "
                        + "use 'onnx-fuse plan' to inspect the levels");
    }

    private void checkOutputIsNotAnInput() {
        if (output == null) {
            return;
        }
        Path target = output.toAbsolutePath().normalize();
        for (Path parent : parents) {
            if (parent.toAbsolutePath().normalize().equals(target)) {
                throw new OutputException(ErrorCode.OUTPUT_IS_INPUT, "output " + output
                        + " is also parent " + parent + "; choose another output path");
            }
        }
    }

    private long checkData(LevelPlan plan) {
        long[] inputShape = plan.inputShape().stream().mapToLong(Dim::sizeOrMinusOne).toArray();
        String name = data.getFileName().toString();
        if (name.endsWith(".npz")) {
            try (NpzArchive archive = NpzArchive.open(data); SampleArray array = archive.array(plan.input())) {
                return checkArray(array, inputShape, plan.input());
            }
        }
        try (SampleArray array = NpyArray.open(data)) {
            return checkArray(array, inputShape, plan.input());
        }
    }

    private static long checkArray(SampleArray array, long[] inputShape, String inputName) {
        DataShapes.check(array.source(), array.header().shape(), inputShape, inputName);
        for (FloatBatch batch : array.batches(CHECK_BATCH)) {
            Finite.check(array.source(), batch);
        }
        return array.samples();
    }
}
