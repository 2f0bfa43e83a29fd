package org.onnxfuse.fusion.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.Color;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.CategoryLabelPositions;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.data.category.DefaultCategoryDataset;
import org.onnxfuse.fusion.evaluate.AgreementCheck;
import org.onnxfuse.fusion.evaluate.Confusion;
import org.onnxfuse.fusion.pipeline.LevelReport;
import org.onnxfuse.fusion.pipeline.Provenance;
import org.onnxfuse.fusion.train.TrainingResult;

/**
 * The run report as one self-contained HTML page ({@code --report-html}): the settings, the level
 * table, the training table of the gradient variant, the check without labels, the accuracies, and
 * charts drawn by JFreeChart into PNGs embedded as {@code data:} URIs. Nothing is fetched: the CSS is
 * inline and a Content-Security-Policy forbids every network source. Every string that comes from
 * a model or the command line (file, tensor and op names, warnings) is HTML-escaped.
 */
final class HtmlReport {
    static {
        // charts are drawn off screen; without a display AWT must not try to open one
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CHART_WIDTH = 900;
    private static final int CHART_HEIGHT = 380;
    /** Series colours (Tableau 10): distinguishable, also in grey print. */
    private static final Color[] PALETTE = {new Color(0x4e79a7), new Color(0xf28e2b), new Color(0x59a14f),
        new Color(0xe15759), new Color(0x76b7b2), new Color(0xedc948), new Color(0xb07aa1), new Color(0xff9da7),
        new Color(0x9c755f), new Color(0xbab0ac)};

    /** What "fit error" means, as the report and the README say it. */
    static final String FIT_ERROR = "the relative residual of the fused level's least squares,"
            + " ||X W<sub>fused</sub> &minus; A U|| / ||A U||: how far the fused level's outputs on the calibration"
            + " data are from the groups' importance-weighted mean outputs of the parents (0 = exact). For a level"
            + " trained by the gradient variant it is the linear fit's; the trained loss is in the training table."
            + " A level grouped in factor form (method \"KF (factor form)\") keeps no A<sup>T</sup>A, so there it is"
            + " measured against each member's own outputs, weighted: it then includes the members' spread.";
    /** What "grouping cost" means. */
    static final String GROUPING_COST = "sum<sub>i</sub> s<sub>i</sub> ||X w<sub>group(i)</sub> &minus;"
            + " a<sub>i</sub>||: each parent neuron i's distance from the fit of the group it was put in, weighted"
            + " by its importance s<sub>i</sub>; what merging the parents' neurons into fewer groups costs. At the"
            + " last level the groups are the classes (every parent's class-c output in group c). A level whose"
            + " neuron space is shared with other levels reports 0: that space is grouped once, from the parents'"
            + " activations at all its cuts, not from this level's fit.";

    private static final String CSS = """
            body{font-family:sans-serif;margin:2em;color:#222;max-width:1100px}
            h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
            table{border-collapse:collapse;margin:.5em 0}
            th,td{border:1px solid #bbb;padding:.2em .6em;text-align:right;vertical-align:top}
            th{background:#eee}td.t,th.t{text-align:left}
            dl dt{font-weight:bold;margin-top:.4em}dl dd{margin-left:1.5em}
            img{display:block;margin:.5em 0;border:1px solid #ddd}
            code{font-family:monospace;word-break:break-all}
            .warn{color:#a40}
            """;

    private HtmlReport() {
    }

    /** The page for {@code run}. */
    static String render(RunReport run) {
        StringBuilder h = new StringBuilder(64 * 1024);
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
                .append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';")
                .append(" img-src data:; style-src 'unsafe-inline'\">\n")
                .append("<title>onnx-fuse report</title>\n<style>").append(CSS).append("</style>\n</head>\n<body>\n");
        Object method = run.config().get("method");
        h.append("<h1>onnx-fuse ").append(escape(Provenance.VERSION)).append(": ")
                .append(run.parentNames().size()).append(" parents fused with ")
                .append(escape(String.valueOf(method))).append("</h1>\n");
        settings(h, run);
        levels(h, run);
        training(h, run);
        check(h, run);
        accuracy(h, run);
        timings(h, run);
        warnings(h, run);
        definitions(h);
        h.append("</body>\n</html>\n");
        return h.toString();
    }

    private static void settings(StringBuilder h, RunReport run) {
        h.append("<h2>Settings</h2>\n<p>Parents (best first; parent 0 is the template):</p>\n<table>\n")
                .append("<tr><th>parent</th><th class=\"t\">file</th></tr>\n");
        Object parents = run.config().get("parents");
        List<?> files = parents instanceof List<?> l ? l : run.parentNames();
        for (int k = 0; k < files.size(); k++) {
            h.append("<tr><td>").append(k).append("</td><td class=\"t\"><code>").append(escape(String.valueOf(files.get(k))))
                    .append("</code></td></tr>\n");
        }
        h.append("</table>\n<p>Configuration (as the JSON report's <code>config</code> and the model's"
                + " <code>onnx-fuse.config</code> record it):</p>\n<table>\n<tr><th class=\"t\">setting</th>"
                + "<th class=\"t\">value</th></tr>\n");
        for (Map.Entry<String, Object> e : run.config().entrySet()) {
            if (e.getKey().equals("parents")) {
                continue;
            }
            h.append("<tr><td class=\"t\">").append(escape(e.getKey())).append("</td><td class=\"t\"><code>")
                    .append(escape(valueText(e.getValue()))).append("</code></td></tr>\n");
        }
        h.append("</table>\n");
    }

    private static String valueText(Object value) {
        if (value == null) {
            return "(none)";
        }
        if (value instanceof String s) {
            return s;
        }
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            return String.valueOf(value);
        }
    }

    private static void levels(StringBuilder h, RunReport run) {
        h.append("<h2>Levels</h2>\n");
        List<LevelReport> levels = run.levels();
        if (levels.isEmpty()) {
            h.append("<p>No per-level fit: this method does not fit levels.</p>\n");
            return;
        }
        h.append("<table>\n<tr><th>level</th><th class=\"t\">op</th><th class=\"t\">cut tensor</th>")
                .append("<th class=\"t\">method</th><th>width</th><th>fan-in</th><th>samples</th><th>fit error</th>")
                .append("<th>grouping cost</th></tr>\n");
        for (LevelReport r : levels) {
            h.append("<tr><td>").append(r.level()).append("</td><td class=\"t\">").append(escape(r.opType()))
                    .append("</td><td class=\"t\"><code>").append(escape(r.cut())).append("</code></td><td class=\"t\">")
                    .append(escape(r.method())).append("</td><td>").append(r.width()).append("</td><td>")
                    .append(r.fanIn()).append("</td><td>").append(r.samples()).append("</td><td>")
                    .append(format("%.4f", r.relativeResidual())).append("</td><td>")
                    .append(format("%.4f", r.groupingCost())).append("</td></tr>\n");
        }
        h.append("</table>\n");
        for (LevelReport r : levels) {
            if (r.warning() != null && !run.warnings().contains(r.warning())) {
                h.append("<p class=\"warn\">level ").append(r.level()).append(": ").append(escape(r.warning()))
                        .append("</p>\n");
            }
        }
        DefaultCategoryDataset fit = new DefaultCategoryDataset();
        DefaultCategoryDataset cost = new DefaultCategoryDataset();
        for (LevelReport r : levels) {
            String key = "level " + r.level() + " (" + r.opType() + ")";
            fit.addValue(finiteOrZero(r.relativeResidual()), "fit error", key);
            cost.addValue(finiteOrZero(r.groupingCost()), "grouping cost", key);
        }
        chart(h, "Fit error per level", "fit error", fit, false);
        chart(h, "Grouping cost per level", "grouping cost", cost, false);
    }

    private static void training(StringBuilder h, RunReport run) {
        if (run.levels().stream().noneMatch(r -> r.training() != null)) {
            return;
        }
        h.append("<h2>Training (gradient variant)</h2>\n<p>Validation loss: the loss on the held-out 20 % of the"
                + " samples.</p>\n<table>\n<tr><th>level</th><th>epochs</th><th>best epoch</th><th>learning rate</th>"
                + "<th>start validation loss</th><th>best validation loss</th><th class=\"t\">stopped</th>"
                + "<th>time (s)</th></tr>\n");
        for (LevelReport r : run.levels()) {
            TrainingResult t = r.training();
            if (t == null) {
                continue;
            }
            h.append("<tr><td>").append(r.level()).append("</td><td>").append(t.epochsRun()).append("</td><td>")
                    .append(t.bestEpoch()).append("</td><td>").append(format("%.3g", t.learningRate()))
                    .append(t.learningRateChosen() ? " (range test)" : "").append("</td><td>")
                    .append(format("%.6g", t.startValidationLoss())).append("</td><td>")
                    .append(format("%.6g", t.bestValidationLoss())).append("</td><td class=\"t\">")
                    .append(escape(t.stop().name().toLowerCase(Locale.ROOT))).append("</td><td>")
                    .append(format("%.1f", t.time().toMillis() / 1000.0)).append("</td></tr>\n");
        }
        h.append("</table>\n");
    }

    private static void check(StringBuilder h, RunReport run) {
        AgreementCheck c = run.check();
        if (c == null) {
            return;
        }
        h.append("<h2>Check without labels</h2>\n<p>On calibration samples ").append(c.firstSample()).append("..")
                .append(c.firstSample() + c.samples() - 1).append(" (")
                .append(c.heldOut() ? "held out from the fusion" : "not held out: the fusion used every sample")
                .append(").</p>\n<table>\n<tr><th class=\"t\">fused model</th><th>share of samples</th></tr>\n")
                .append("<tr><td class=\"t\">predicts the ensemble's class</td><td>")
                .append(format("%.2f %%", 100 * c.ensemble())).append("</td></tr>\n");
        for (int k = 0; k < c.parents().size(); k++) {
            h.append("<tr><td class=\"t\">predicts parent ").append(k).append(" (<code>")
                    .append(escape(run.parentNames().get(k))).append("</code>)'s class</td><td>")
                    .append(format("%.2f %%", 100 * c.parents().get(k))).append("</td></tr>\n");
        }
        h.append("<tr><td class=\"t\">logit error (vs the parents' mean)</td><td>")
                .append(format("%.4f", c.logitError())).append("</td></tr>\n</table>\n");
    }

    private static void accuracy(StringBuilder h, RunReport run) {
        AccuracySummary a = run.accuracy();
        if (a == null) {
            return;
        }
        h.append("<h2>Accuracy</h2>\n<p>On <code>").append(escape(a.dataSource())).append("</code> (")
                .append(a.samples()).append(" samples).</p>\n<table>\n<tr><th class=\"t\">model</th><th>accuracy</th></tr>\n");
        for (int k = 0; k < a.parents().size(); k++) {
            h.append("<tr><td class=\"t\">parent ").append(k).append(" <code>").append(escape(a.parentNames().get(k)))
                    .append("</code></td><td>").append(format("%.2f %%", 100 * a.parents().get(k))).append("</td></tr>\n");
        }
        h.append("<tr><td class=\"t\">ensemble (reference, not a model)</td><td>")
                .append(format("%.2f %%", 100 * a.ensemble())).append("</td></tr>\n");
        if (a.fusedFloat32() != null) {
            h.append("<tr><td class=\"t\">fused, float32 weights</td><td>").append(format("%.2f %%", 100 * a.fusedFloat32()))
                    .append("</td></tr>\n<tr><td class=\"t\">fused, ").append(escape(a.dtype()))
                    .append(" weights (written)</td><td>").append(format("%.2f %%", 100 * a.fused())).append("</td></tr>\n");
        } else {
            h.append("<tr><td class=\"t\">fused</td><td>").append(format("%.2f %%", 100 * a.fused())).append("</td></tr>\n");
        }
        h.append("</table>\n<p>Per class (accuracy %, by true class):</p>\n<table>\n<tr><th>class</th><th>samples</th>");
        for (int k = 0; k < a.parentConfusions().size(); k++) {
            h.append("<th>parent ").append(k).append("</th>");
        }
        h.append("<th>ensemble</th><th>fused</th></tr>\n");
        Confusion fused = a.fusedConfusion();
        DefaultCategoryDataset perClass = new DefaultCategoryDataset();
        for (int c = 0; c < fused.classes(); c++) {
            h.append("<tr><td>").append(c).append("</td><td>").append(fused.support(c)).append("</td>");
            String column = "class " + c;
            for (int k = 0; k < a.parentConfusions().size(); k++) {
                double v = 100 * a.parentConfusions().get(k).classAccuracy(c);
                h.append("<td>").append(format("%.2f", v)).append("</td>");
                perClass.addValue(finiteOrZero(v), "parent " + k + ": " + a.parentNames().get(k), column);
            }
            double ensemble = 100 * a.ensembleConfusion().classAccuracy(c);
            double f = 100 * fused.classAccuracy(c);
            h.append("<td>").append(format("%.2f", ensemble)).append("</td><td>").append(format("%.2f", f))
                    .append("</td></tr>\n");
            perClass.addValue(finiteOrZero(ensemble), "ensemble", column);
            perClass.addValue(finiteOrZero(f), "fused", column);
        }
        h.append("</table>\n");
        chart(h, "Accuracy per class (%)", "accuracy (%)", perClass, true);
    }

    private static void timings(StringBuilder h, RunReport run) {
        h.append("<h2>Timings</h2>\n<table>\n<tr><th class=\"t\">stage</th><th>ms</th></tr>\n");
        run.timings().forEach((k, v) -> h.append("<tr><td class=\"t\">").append(escape(k)).append("</td><td>")
                .append(format("%.1f", v)).append("</td></tr>\n"));
        h.append("</table>\n");
    }

    private static void warnings(StringBuilder h, RunReport run) {
        if (run.warnings().isEmpty()) {
            return;
        }
        h.append("<h2>Warnings</h2>\n<ul>\n");
        run.warnings().forEach(w -> h.append("<li class=\"warn\">").append(escape(w)).append("</li>\n"));
        h.append("</ul>\n");
    }

    private static void definitions(StringBuilder h) {
        h.append("<h2>Columns</h2>\n<dl>\n")
                .append("<dt>level</dt><dd>the level's 1-based index: a level is one affine op (Gemm, MatMul or Conv)"
                        + " and the cheap ops around it, cut at the tensor named in <em>cut tensor</em></dd>\n")
                .append("<dt>op</dt><dd>the level's affine op type</dd>\n")
                .append("<dt>cut tensor</dt><dd>the tensor where the level ends in parent 0, whose neurons are grouped</dd>\n")
                .append("<dt>method</dt><dd>how the level was fused: KF (K-means grouping), HF (Hungarian matching),"
                        + " class mean (the last level: each class the weighted mean of the parents' class outputs),"
                        + " or a baseline's name</dd>\n")
                .append("<dt>width</dt><dd>the fused level's number of neurons (output channels or units)</dd>\n")
                .append("<dt>fan-in</dt><dd>d, the inputs of each fused neuron (kernel elements x input channels for a"
                        + " Conv), the ones column of the bias included</dd>\n")
                .append("<dt>samples</dt><dd>calibration samples the level was fitted on</dd>\n")
                .append("<dt>fit error</dt><dd>").append(FIT_ERROR).append("</dd>\n")
                .append("<dt>grouping cost</dt><dd>").append(GROUPING_COST).append("</dd>\n")
                .append("<dt>epochs, best epoch</dt><dd>epochs trained (at most <code>--epochs</code>) and the epoch whose"
                        + " weights were kept (0: none beat the start)</dd>\n")
                .append("<dt>learning rate</dt><dd>the rate trained with, given or chosen by the range test</dd>\n")
                .append("<dt>start / best validation loss</dt><dd>the loss on the held-out 20 % of the level's samples at"
                        + " the start and at the best epoch</dd>\n")
                .append("<dt>stopped</dt><dd>why training ended: epochs (all ran), patience (no better validation loss"
                        + " for <code>--patience</code> epochs), diverged, or exact_start (the start already fits)</dd>\n")
                .append("<dt>ensemble</dt><dd>the class of the parents' mean softmax: a reference, not a model</dd>\n")
                .append("<dt>logit error</dt><dd>||fused &minus; mean of the parents' logits|| / ||mean of the parents'"
                        + " logits|| over all checked samples and classes</dd>\n")
                .append("</dl>\n");
    }

    /** A bar chart (grouped when the dataset has several rows) as an embedded PNG. */
    private static void chart(StringBuilder h, String title, String valueAxis, DefaultCategoryDataset data,
                              boolean legend) {
        byte[] png;
        try {
            JFreeChart chart = ChartFactory.createBarChart(title, null, valueAxis, data, PlotOrientation.VERTICAL,
                    legend, false, false);
            chart.setBackgroundPaint(Color.WHITE);
            CategoryPlot plot = chart.getCategoryPlot();
            plot.setBackgroundPaint(Color.WHITE);
            plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
            if (data.getColumnCount() > 8) {
                plot.getDomainAxis().setCategoryLabelPositions(CategoryLabelPositions.UP_45);
            }
            BarRenderer renderer = (BarRenderer) plot.getRenderer();
            renderer.setBarPainter(new StandardBarPainter());
            renderer.setShadowVisible(false);
            for (int i = 0; i < data.getRowCount(); i++) {
                renderer.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
            }
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            ChartUtils.writeChartAsPNG(bytes, chart, CHART_WIDTH, CHART_HEIGHT);
            png = bytes.toByteArray();
        } catch (IOException | RuntimeException | LinkageError | java.awt.AWTError e) {
            // no usable fonts or graphics in this JVM: the tables above still hold every number
            h.append("<p class=\"warn\">chart '").append(escape(title)).append("' could not be drawn: ")
                    .append(escape(String.valueOf(e))).append("</p>\n");
            return;
        }
        h.append("<img alt=\"").append(escape(title)).append("\" width=\"").append(CHART_WIDTH).append("\" height=\"")
                .append(CHART_HEIGHT).append("\" src=\"data:image/png;base64,")
                .append(Base64.getEncoder().encodeToString(png)).append("\">\n");
    }

    private static double finiteOrZero(double v) {
        return Double.isFinite(v) ? v : 0;
    }

    private static String format(String pattern, double v) {
        return String.format(Locale.ROOT, pattern, v);
    }

    /**
     * {@code text} safe as HTML text or a quoted attribute value: {@code & < > " '} as character
     * references, control characters (but tab, line feed and carriage return) as U+FFFD, which HTML
     * does not allow even as references.
     */
    static String escape(String text) {
        if (text == null) {
            return "";
        }
        StringBuilder b = new StringBuilder(text.length() + 16);
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '&' -> b.append("&amp;");
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> {
                    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || (c >= 0x7f && c <= 0x9f)) {
                        b.append('\uFFFD');
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.toString();
    }
}
