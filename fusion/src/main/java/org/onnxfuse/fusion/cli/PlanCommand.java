package org.onnxfuse.fusion.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.onnxfuse.fusion.collect.StatisticsCollector;
import org.onnxfuse.fusion.pipeline.FusionConfig;
import org.onnxfuse.fusion.pipeline.LevelMemory;
import org.onnxfuse.fusion.plan.ConstantFolding;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.LevelPlanner;
import org.onnxfuse.fusion.plan.PlanComparison;
import org.onnxfuse.fusion.plan.PlanFormatter;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.ir.Model;
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

    @Option(names = "--samples", paramLabel = "N", description = "calibration samples the memory estimate is for"
            + " (the frontier cache grows with them); without it the frontier counts its whole share of the heap")
    private Long samples;

    @Spec
    private CommandSpec spec;

    public PlanCommand() {
    }

    /** Each level's peak memory estimate (kf-linear at the template's widths), the largest marked. */
    static String memoryTable(List<LevelMemory> memory, int parents, boolean assumed, long heap, Long samples) {
        StringBuilder sb = new StringBuilder("memory per level when fusing " + parents + " parents"
                + (assumed ? " like this one" : "") + " (kf-linear, at these widths, "
                + (samples == null ? "frontier at its whole share of the heap: give --samples for less"
                        : samples + " samples") + "; this JVM's heap: " + LevelMemory.size(heap) + ")\n");
        LevelMemory largest = memory.stream().max(java.util.Comparator.comparingLong(LevelMemory::bytes)).orElse(null);
        for (LevelMemory m : memory) {
            sb.append(String.format(java.util.Locale.ROOT, "  %5d  %s%s%n", m.level(), m.describe(),
                    m == largest ? (m.bytes() > heap ? "  <- largest, above the heap" : "  <- largest") : ""));
        }
        return sb.toString();
    }

    @Override
    public Integer call() {
        SubcommandGuard.refuseFusionOptions(spec);
        if (samples != null && samples < 1) {
            throw new OnnxFuseException(ErrorCode.USAGE, "--samples must be at least 1; found " + samples);
        }
        List<LevelPlan> plans = new ArrayList<>();
        List<String> names = new ArrayList<>();
        long parentBytes = 0;
        for (Path file : models) {
            Model model = ConstantFolding.fold(OnnxReader.read(file));
            parentBytes += LevelMemory.heldBytes(model);
            plans.add(LevelPlanner.plan(model));
            names.add(file.getFileName() == null ? file.toString() : file.getFileName().toString());
        }
        if (plans.size() > 1) {
            PlanComparison.requireCompatible(plans, names);
        }
        PrintWriter out = spec.commandLine().getOut();
        // one model: the memory of fusing two like it
        List<LevelPlan> fused = plans.size() == 1 ? List.of(plans.get(0), plans.get(0)) : plans;
        long heap = Runtime.getRuntime().maxMemory();
        List<LevelMemory> memory = LevelMemory.of(fused, plans.size() == 1 ? 2 * parentBytes : parentBytes, null,
                FusionConfig.defaults().batchSize(), LevelMemory.formsWithin(heap), samples == null ? 0 : samples,
                StatisticsCollector.frontierHeapBudget(heap), heap);
        if (json) {
            ObjectNode root = plans.size() == 1 ? PlanFormatter.json(names.get(0), plans.get(0))
                    : PlanFormatter.json(names, plans);
            ObjectNode estimate = root.putObject("memory");
            estimate.put("parents", fused.size());
            estimate.put("heapBytes", heap);
            if (samples != null) {
                estimate.put("samples", samples);
            }
            ArrayNode levels = estimate.putArray("levels");
            for (LevelMemory m : memory) {
                levels.addObject().put("index", m.level()).put("bytes", m.bytes()).put("statistics", m.statistics())
                        .put("collection", m.collection()).put("leastSquares", m.leastSquares())
                        .put("grouping", m.grouping()).put("frontier", m.frontier()).put("models", m.models()).put("runtime", m.runtime())
                        .put("form", m.form().cliName());
            }
            out.println(PlanFormatter.toText(root));
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
            out.println();
            out.print(memoryTable(memory, fused.size(), plans.size() == 1, heap, samples));
        }
        out.flush();
        return 0;
    }
}
