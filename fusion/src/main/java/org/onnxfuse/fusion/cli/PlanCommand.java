package org.onnxfuse.fusion.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.onnxfuse.fusion.plan.ConstantFolding;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.PlanComparison;
import org.onnxfuse.fusion.plan.PlanFormatter;
import org.onnxfuse.onnx.io.OnnxReader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code onnx-fuse plan model.onnx [more.onnx ...]}: prints each model's levels, and with several
 * models checks first that they can be fused (same plan up to widths). Errors are thrown for
 * {@link ErrorReporter} to map to exit codes.
 */
@Command(name = "plan", mixinStandardHelpOptions = true,
        description = {"Print the fusion levels of one or more models: per level its ops, cut tensor, cut shape,"
                + " neuron axis, width and fan-in.",
            "With several models, first check that they share one plan up to widths, as fusion requires."})
public final class PlanCommand implements Callable<Integer> {
    @Parameters(arity = "1..*", paramLabel = "MODEL", description = "ONNX model files (.onnx)")
    private List<Path> models = new ArrayList<>();

    @Option(names = "--json", description = "Print JSON instead of tables.")
    private boolean json;

    @Option(names = "--verbose", description = "Show each level's nodes, inputs and settings; stack traces on errors.")
    private boolean verbose;

    @Spec
    private CommandSpec spec;

    public PlanCommand() {
    }

    @Override
    public Integer call() {
        SubcommandGuard.refuseFusionOptions(spec);
        List<LevelPlan> plans = new ArrayList<>();
        List<String> names = new ArrayList<>();
        for (Path file : models) {
            plans.add(LevelPlanner.plan(ConstantFolding.fold(OnnxReader.read(file))));
            names.add(file.getFileName() == null ? file.toString() : file.getFileName().toString());
        }
        if (plans.size() > 1) {
            PlanComparison.requireCompatible(plans, names);
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(PlanFormatter.toText(plans.size() == 1 ? PlanFormatter.json(names.get(0), plans.get(0))
                    : PlanFormatter.json(names, plans)));
        } else {
            for (int i = 0; i < plans.size(); i++) {
                if (i > 0) {
                    out.println();
                }
                out.print(PlanFormatter.table(names.get(i), plans.get(i), verbose));
            }
            if (plans.size() > 1) {
                out.println();
                if (!plans.get(0).sequential()) {
                    out.print(PlanFormatter.spaceWidths(names, plans));
                }
                out.println(plans.size() + " models share one plan up to widths: they can be fused.");
            }
        }
        out.flush();
        return 0;
    }
}
