package org.onnxfuse.fusion.cli;

import org.onnxfuse.fusion.train.TrainingResult;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.onnxfuse.fusion.evaluate.AgreementCheck;
import org.onnxfuse.fusion.evaluate.Confusion;
import org.onnxfuse.fusion.importance.Importance;
import org.onnxfuse.fusion.pipeline.LevelReport;
import org.onnxfuse.fusion.pipeline.Provenance;
import org.onnxfuse.onnx.errors.TerminalText;
import org.onnxfuse.onnx.io.StagedFiles;

/**
 * What one fusion run did: configuration, per-level fit, timings per stage and accuracies. Printed
 * as a terminal table and written as JSON ({@code --report}).
 */
final class RunReport {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final Map<String, Object> config;
    private final List<LevelReport> levels;
    private final List<List<Long>> parentWidthsPerLevel;
    private final Importance importance;
    private final Map<String, Double> timings;
    private final AccuracySummary accuracy;
    private final AgreementCheck check;
    private final List<String> parentNames;
    private final List<String> warnings;

    /**
     * @param importance the scores the fusion used, or null (baselines: none, reported as uniform)
     * @param accuracy   accuracies on the evaluation set, or null without one
     * @param check      the check without labels, or null when skipped
     */
    RunReport(Map<String, Object> config, List<LevelReport> levels, List<List<Long>> parentWidthsPerLevel,
              Importance importance, Map<String, Double> timings, AccuracySummary accuracy, AgreementCheck check,
              List<String> parentNames, List<String> warnings) {
        this.check = check;
        this.parentNames = List.copyOf(parentNames);
        this.importance = importance;
        this.config = new LinkedHashMap<>(config);
        this.levels = List.copyOf(levels);
        this.parentWidthsPerLevel = List.copyOf(parentWidthsPerLevel);
        this.timings = new LinkedHashMap<>(timings);
        this.accuracy = accuracy;
        this.warnings = List.copyOf(warnings);
    }

    /** Accuracy per true class: one row per class, one column per parent, the ensemble and the fused model. */
    private void printPerClass(PrintWriter out) {
        Confusion fused = accuracy.fusedConfusion();
        int parents = accuracy.parentConfusions().size();
        out.printf("%nper class (accuracy %%)%n");
        StringBuilder head = new StringBuilder(String.format(Locale.ROOT, "  %5s %7s", "class", "samples"));
        for (int k = 0; k < parents; k++) {
            head.append(String.format(Locale.ROOT, " %9s", "parent " + k));
        }
        head.append(String.format(Locale.ROOT, " %9s %9s", "ensemble", "fused"));
        out.println(head);
        for (int c = 0; c < fused.classes(); c++) {
            StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "  %5d %7d", c, fused.support(c)));
            for (Confusion p : accuracy.parentConfusions()) {
                row.append(String.format(Locale.ROOT, " %9.2f", 100 * p.classAccuracy(c)));
            }
            row.append(String.format(Locale.ROOT, " %9.2f %9.2f", 100 * accuracy.ensembleConfusion().classAccuracy(c),
                    100 * fused.classAccuracy(c)));
            out.println(row);
        }
    }

    void printTable(PrintWriter out) {
        if (!levels.isEmpty()) {
            // the method column is as wide as its longest entry ("kept (parent 0, fitted)", "KF (space 3, residual)")
            int methodWidth = Math.max(10, levels.stream().mapToInt(r -> r.method().length()).max().orElse(0));
            out.printf("%5s  %-6s  %-" + methodWidth + "s  %6s  %7s  %9s  %13s%n", "level", "op", "method", "width",
                    "fan-in", "fit error", "grouping cost");
            for (LevelReport r : levels) {
                out.printf(Locale.ROOT, "%5d  %-6s  %-" + methodWidth + "s  %6d  %7d  %9.4f  %13.4f%n", r.level(),
                        TerminalText.escape(r.opType()), r.method(),
                        r.width(), r.fanIn(), r.relativeResidual(), r.groupingCost());
            }
            if (levels.stream().anyMatch(r -> r.training() != null)) {
                out.printf("%ntraining (validation loss: the loss on the held-out 20 %% of the samples)%n");
                out.printf("%5s  %7s  %5s  %10s  %12s  %12s  %8s  %-8s%n", "level", "epochs", "best", "lr",
                        "start loss", "best loss", "time", "stopped");
                for (LevelReport r : levels) {
                    TrainingResult t = r.training();
                    if (t != null) {
                        out.printf(Locale.ROOT, "%5d  %7d  %5d  %10.3g  %12.6g  %12.6g  %7.1fs  %-8s%n", r.level(),
                                t.epochsRun(), t.bestEpoch(), t.learningRate(), t.startValidationLoss(),
                                t.bestValidationLoss(), t.time().toMillis() / 1000.0,
                                t.stop().name().toLowerCase(Locale.ROOT));
                    }
                }
            }
        }
        if (check != null) {
            out.printf(Locale.ROOT, "%ncheck without labels on calibration samples %d..%d (%s)%n", check.firstSample(),
                    check.firstSample() + check.samples() - 1,
                    check.heldOut() ? "held out from the fusion" : "not held out: the fusion used every sample");
            out.printf(Locale.ROOT, "  %-35s %7.2f %%%n", "predicts the ensemble's class", 100 * check.ensemble());
            for (int k = 0; k < check.parents().size(); k++) {
                out.printf(Locale.ROOT, "  %-35s %7.2f %%%n", "predicts " + TerminalText.escape(parentNames.get(k))
                        + "'s class", 100 * check.parents().get(k));
            }
            out.printf(Locale.ROOT, "  %-35s %9.4f%n", "logit error (vs the parents' mean)", check.logitError());
        }
        if (accuracy != null) {
            out.printf("%naccuracy on %s (%d samples)%n", TerminalText.escape(accuracy.dataSource()),
                    accuracy.samples());
            for (int k = 0; k < accuracy.parents().size(); k++) {
                out.printf(Locale.ROOT, "  parent %-28s %7.2f %%%n", TerminalText.escape(accuracy.parentNames().get(k)),
                        100 * accuracy.parents().get(k));
            }
            out.printf(Locale.ROOT, "  %-35s %7.2f %%%n", "ensemble (reference, not a model)", 100 * accuracy.ensemble());
            if (accuracy.fusedFloat32() != null) {
                out.printf(Locale.ROOT, "  %-35s %7.2f %%%n", "fused, float32 weights", 100 * accuracy.fusedFloat32());
                out.printf(Locale.ROOT, "  %-35s %7.2f %%%n", "fused, " + accuracy.dtype() + " weights (written)",
                        100 * accuracy.fused());
            } else {
                out.printf(Locale.ROOT, "  %-35s %7.2f %%%n", "fused", 100 * accuracy.fused());
            }
            printPerClass(out);
        }
        out.flush();
    }

    ObjectNode toJson() {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", Provenance.VERSION);
        root.set("config", JSON.valueToTree(config));
        ObjectNode t = root.putObject("timings");
        timings.forEach((k, v) -> t.put(k, Math.round(v * 1000) / 1000.0));
        ArrayNode levelArray = root.putArray("levels");
        for (int i = 0; i < levels.size(); i++) {
            LevelReport r = levels.get(i);
            ObjectNode l = levelArray.addObject();
            l.put("level", r.level());
            l.put("op", r.opType());
            l.put("cut", r.cut());
            l.put("method", r.method());
            l.put("width", r.width());
            l.put("fanIn", r.fanIn());
            l.put("samples", r.samples());
            l.put("rows", r.rows());
            l.put("fitError", r.relativeResidual());
            l.put("groupingCost", r.groupingCost());
            ObjectNode lt = l.putObject("timings");
            lt.put("inference_ms", r.inferenceMillis());
            lt.put("statistics_ms", r.statisticsMillis());
            lt.put("grouping_ms", r.groupingMillis());
            lt.put("solve_ms", r.solveMillis());
            if (r.warning() != null) {
                l.put("warning", r.warning());
            }
            if (r.training() != null) {
                TrainingResult tr = r.training();
                ObjectNode train = l.putObject("training");
                train.put("epochs", tr.epochsRun());
                train.put("bestEpoch", tr.bestEpoch());
                train.put("learningRate", tr.learningRate());
                train.put("startValidationLoss", tr.startValidationLoss());
                train.put("bestValidationLoss", tr.bestValidationLoss());
                train.put("stopped", tr.stop().name().toLowerCase(Locale.ROOT));
                train.put("time_ms", tr.time().toMillis());
                if (!tr.rangeTest().isEmpty()) {
                    ArrayNode sweep = train.putArray("rangeTest");
                    tr.rangeTest().forEach(p -> sweep.addObject().put("lr", p.learningRate())
                            .put("validationLoss", p.validationLoss()));
                }
            }
            l.set("importance", importance == null ? uniformImportance(parentWidthsPerLevel.get(i))
                    : levelImportance(importance, r.level()));
        }
        if (check != null) {
            ObjectNode c = root.putObject("check");
            c.put("firstSample", check.firstSample());
            c.put("samples", check.samples());
            c.put("heldOut", check.heldOut());
            c.put("agreesWithEnsemble", check.ensemble());
            ArrayNode parents = c.putArray("agreesWithParents");
            for (int k = 0; k < check.parents().size(); k++) {
                parents.addObject().put("file", parentNames.get(k)).put("agreement", check.parents().get(k));
            }
            c.put("logitError", check.logitError());
        }
        if (accuracy != null) {
            ObjectNode a = root.putObject("accuracy");
            a.put("data", accuracy.dataSource());
            a.put("samples", accuracy.samples());
            ArrayNode parents = a.putArray("parents");
            for (int k = 0; k < accuracy.parents().size(); k++) {
                parents.addObject().put("file", accuracy.parentNames().get(k)).put("accuracy", accuracy.parents().get(k));
            }
            a.put("bestParent", accuracy.bestParent());
            a.put("ensemble", accuracy.ensemble());
            a.put("fused", accuracy.fused());
            a.put("dtype", accuracy.dtype());
            ArrayNode perClass = a.putArray("perClass");
            for (int c = 0; c < accuracy.fusedConfusion().classes(); c++) {
                ObjectNode row = perClass.addObject();
                row.put("class", c).put("samples", accuracy.fusedConfusion().support(c));
                ArrayNode p = row.putArray("parents");
                for (Confusion m : accuracy.parentConfusions()) {
                    p.add(m.classAccuracy(c));
                }
                row.put("ensemble", accuracy.ensembleConfusion().classAccuracy(c));
                row.put("fused", accuracy.fusedConfusion().classAccuracy(c));
            }
            ObjectNode confusion = a.putObject("confusion");
            confusion.set("fused", JSON.valueToTree(accuracy.fusedConfusion().counts()));
            confusion.set("ensemble", JSON.valueToTree(accuracy.ensembleConfusion().counts()));
            ArrayNode pc = confusion.putArray("parents");
            accuracy.parentConfusions().forEach(m -> pc.add(JSON.valueToTree(m.counts())));
            if (accuracy.fusedFloat32() != null) {
                a.put("fusedFloat32", accuracy.fusedFloat32());
            }
        }
        ArrayNode w = root.putArray("warnings");
        warnings.forEach(w::add);
        return root;
    }

    /** Per-parent neuron scores; uniform importance gives each of parent k's n_k neurons 1/n_k. */
    private static ObjectNode uniformImportance(List<Long> widths) {
        ObjectNode node = JSON.createObjectNode();
        node.put("method", "uniform");
        ArrayNode perParent = node.putArray("parents");
        for (long n : widths) {
            ArrayNode scores = perParent.addArray();
            for (long j = 0; j < n; j++) {
                scores.add(1.0 / n);
            }
        }
        return node;
    }

    /** Per-parent neuron scores, each parent's normalised to sum 1 (as KF-linear weighs them). */
    private static ObjectNode levelImportance(Importance importance, int level) {
        ObjectNode node = JSON.createObjectNode();
        node.put("method", importance.method().cliName());
        node.put("explains", importance.labelSource());
        ArrayNode perParent = node.putArray("parents");
        for (int k = 0; k < importance.parents(); k++) {
            double[] s = importance.of(k, level);
            double sum = java.util.Arrays.stream(s).sum();
            ArrayNode scores = perParent.addArray();
            for (double v : s) {
                scores.add(v / sum);
            }
        }
        return node;
    }

    /** The JSON report written into a temporary file next to {@code file}, to be committed with the model. */
    StagedFiles stage(Path file) {
        return StagedFiles.write(file, temp -> Files.writeString(temp, JSON.writeValueAsString(toJson()) + "\n",
                StandardCharsets.UTF_8));
    }

    /** The HTML report ({@link HtmlReport}) written into a temporary file next to {@code file}. */
    StagedFiles stageHtml(Path file) {
        return StagedFiles.write(file, temp -> Files.writeString(temp, HtmlReport.render(this), StandardCharsets.UTF_8));
    }

    Map<String, Object> config() {
        return java.util.Collections.unmodifiableMap(config);
    }

    List<LevelReport> levels() {
        return levels;
    }

    Map<String, Double> timings() {
        return java.util.Collections.unmodifiableMap(timings);
    }

    /** Accuracies on the evaluation set, or null without one. */
    AccuracySummary accuracy() {
        return accuracy;
    }

    /** The check without labels, or null when skipped. */
    AgreementCheck check() {
        return check;
    }

    List<String> parentNames() {
        return parentNames;
    }

    List<String> warnings() {
        return warnings;
    }
}
