package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.errors.ErrorCode;

/** --report-html: one self-contained page (tables, embedded PNG charts), escaped names, refusals, a browser's view. */
class HtmlReportTest {
    private static final Pattern PNG = Pattern.compile("src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\"");

    @TempDir
    Path dir;

    private final CliRunner cli = new CliRunner();

    private static String fixture(String name) {
        return Fixtures.model(name).toString();
    }

    private static String data(String name) {
        return Fixtures.data(name).toString();
    }

    /**
     * Fuses mlp_k2 (parent 1 copied under a file name with markup in it) with an evaluation set;
     * returns the HTML report's text, the JSON report beside it.
     */
    private String fuseWithReports(Path html, Path json, String... extra) throws IOException {
        Path hostile = Files.copy(Fixtures.model("mlp_k2_p1.onnx"), dir.resolve("p1<script>alert('x')<b>&.onnx"));
        List<String> args = new ArrayList<>(List.of(fixture("mlp_k2_p0.onnx"), hostile.toString(), "--data",
                data("calib400_x.npy"), "--eval-data", data("test_x.npy"), "--eval-labels", data("test_y.npy"),
                "--importance", "uniform", "--check", "100", "--samples", "300", "-q", "-o",
                dir.resolve("fused.onnx").toString(), "--report", json.toString(), "--report-html", html.toString()));
        args.addAll(List.of(extra));
        int exit = cli.run(args.toArray(String[]::new));
        assertEquals(0, exit, cli.err.toString());
        return Files.readString(html, StandardCharsets.UTF_8);
    }

    private static List<BufferedImage> images(String html) throws IOException {
        List<BufferedImage> images = new ArrayList<>();
        Matcher m = PNG.matcher(html);
        while (m.find()) {
            byte[] png = Base64.getDecoder().decode(m.group(1));
            BufferedImage image = ImageIO.read(new ByteArrayInputStream(png));
            assertNotNull(image, "an embedded image that is not a PNG");
            images.add(image);
        }
        return images;
    }

    @Test
    void oneSelfContainedPageWithTheTablesChartsAndEscapedNames() throws IOException {
        Path html = dir.resolve("report.html");
        Path json = dir.resolve("report.json");
        String page = fuseWithReports(html, json);
        JsonNode report = new ObjectMapper().readTree(json.toFile());

        assertTrue(page.startsWith("<!DOCTYPE html>"), page.substring(0, 40));
        assertTrue(page.contains("default-src 'none'"), "a Content-Security-Policy forbids fetching anything");
        assertFalse(page.toLowerCase(Locale.ROOT).matches("(?s).*https?://.*"), "no network URL in the page");
        assertFalse(page.contains("<link") || page.contains("<script") || page.contains("<iframe"),
                "no external resource and no script");
        // the level table, with the JSON report's values
        JsonNode levels = report.get("levels");
        assertEquals(2, levels.size());
        for (JsonNode l : levels) {
            assertTrue(page.contains(String.format(Locale.ROOT, "%.4f", l.get("fitError").asDouble())), l.toString());
            assertTrue(page.contains(String.format(Locale.ROOT, "%.4f", l.get("groupingCost").asDouble())),
                    l.toString());
            assertTrue(page.contains("<td>" + l.get("width").asInt() + "</td><td>" + l.get("fanIn").asInt() + "</td>"),
                    l.toString());
            assertTrue(page.contains(l.get("op").asText()));
        }
        for (String column : new String[] {"fit error", "grouping cost", "fan-in", "width", "method"}) {
            assertTrue(page.contains("<dt>" + column), "definition of " + column);
        }
        assertTrue(page.contains("||X W<sub>fused</sub> &minus; A U|| / ||A U||"), "fit error defined");
        // the settings, as the JSON report's config
        assertTrue(page.contains(">kf-linear<"), "the method");
        assertTrue(page.contains(">300<"), "the samples");
        assertTrue(page.contains(">uniform<"), "the importance");
        // accuracies with the per-class table
        String fused = String.format(Locale.ROOT, "%.2f %%", 100 * report.get("accuracy").get("fused").asDouble());
        assertTrue(page.contains(fused), fused);
        assertTrue(page.contains("Per class"));
        // a file name with markup is text, never markup
        assertTrue(page.contains("p1&lt;script&gt;alert(&#39;x&#39;)&lt;b&gt;&amp;.onnx"), "escaped parent name");
        assertFalse(page.contains("<script>") || page.contains("<b>&"), "no markup from a name");
        // three charts: fit error, grouping cost, per-class accuracy; each a PNG of the drawn size
        List<BufferedImage> charts = images(page);
        assertEquals(3, charts.size(), "fit error, grouping cost and per-class accuracy charts");
        for (BufferedImage chart : charts) {
            assertEquals(900, chart.getWidth());
            assertEquals(380, chart.getHeight());
            assertFalse(blank(chart), "a chart with nothing drawn");
        }
        assertEquals(List.of("fused.onnx", "p1<script>alert('x')<b>&.onnx", "report.html", "report.json"),
                folderContents(), "no temporary files left");
    }

    @Test
    void withoutAnEvaluationSetOnlyTheLevelChartsAndTheTrainingTableOfTheGradientVariant() throws IOException {
        Path html = dir.resolve("gradient.html");
        int exit = cli.run(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data", data("calib400_x.npy"),
                "--method", "kf-gradient", "--epochs", "3", "--lr", "1e-3", "--importance", "uniform", "--no-check",
                "-q", "-o", dir.resolve("g.onnx").toString(), "--report-html", html.toString());
        assertEquals(0, exit, cli.err.toString());
        String page = Files.readString(html);
        assertTrue(page.contains("Training (gradient variant)"), "the training table");
        assertTrue(page.contains("<th>best validation loss</th>"));
        assertTrue(page.contains("<td>0.00100</td>"), "the learning rate as given");
        assertFalse(page.contains("Accuracy per class") || page.contains("<h2>Accuracy"), "no accuracies without labels");
        assertEquals(2, images(page).size(), "fit error and grouping cost charts");
    }

    @Test
    void escapingHelperMakesEveryNameText() {
        assertEquals("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;",
                HtmlReport.escape("</script><script>alert(1)</script>"));
        assertEquals("a&amp;b &quot;q&quot; &#39;s&#39;", HtmlReport.escape("a&b \"q\" 's'"));
        assertEquals("x\uFFFD[31my\uFFFDz\tw", HtmlReport.escape("x\u001b[31my\u0000z\tw"));
        assertEquals("", HtmlReport.escape(null));
    }

    @Test
    void refusedWhenItIsTheModelAnInputOrTheJsonReportAndNothingIsLeft() throws IOException {
        Path out = dir.resolve("fused.onnx");
        refused(ErrorCode.OUTPUT_IS_INPUT, "is the same file as -o", "-o", out.toString(), "--report-html",
                out.toString());
        refused(ErrorCode.OUTPUT_IS_INPUT, "is the same file as --report", "-o", out.toString(), "--report",
                dir.resolve("r").toString(), "--report-html", dir.resolve("r").toString());
        // an input copied here, so that a failure of the refusal cannot overwrite a fixture
        Path labels = Files.copy(Fixtures.data("calib400_y.npy"), dir.resolve("input_y.npy"));
        refused(ErrorCode.OUTPUT_IS_INPUT, "is also an input", "-o", out.toString(), "--labels", labels.toString(),
                "--report-html", labels.toString());
        refused(ErrorCode.OUTPUT_UNWRITABLE, "does not exist", "-o", out.toString(), "--report-html",
                dir.resolve("no/such/report.html").toString());
        refused(ErrorCode.OUTPUT_UNWRITABLE, "names a folder", "-o", out.toString(), "--report-html",
                dir.resolve("newdir") + "/");
        assertEquals(List.of(), folderContents(), "refused runs leave nothing behind");
    }

    private void refused(ErrorCode code, String part, String... outputs) {
        List<String> args = new ArrayList<>(List.of(fixture("mlp_k2_p0.onnx"), fixture("mlp_k2_p1.onnx"), "--data",
                data("calib400_x.npy"), "--importance", "uniform", "-q"));
        args.addAll(List.of(outputs));
        CliRunner run = new CliRunner();
        assertEquals(code.exitCode(), run.run(args.toArray(String[]::new)), run.err.toString());
        assertTrue(run.err.toString().contains(part), run.err.toString());
    }

    /** The page as headless Chromium draws it, when a chromium is installed (CI installs one). */
    @Test
    void chromiumRendersThePage() throws Exception {
        String chromium = executable("chromium", "chromium-browser", "google-chrome");
        Assumptions.assumeTrue(chromium != null, "no chromium executable on the PATH");
        Path html = dir.resolve("report.html");
        fuseWithReports(html, dir.resolve("report.json"));
        Path shot = dir.resolve("screenshot.png");
        Path profile = Files.createDirectory(dir.resolve("chromium-profile"));
        Process p = new ProcessBuilder(chromium, "--headless", "--disable-gpu", "--no-sandbox",
                "--user-data-dir=" + profile, "--screenshot=" + shot, "--window-size=1200,2000",
                html.toUri().toString()).redirectErrorStream(true).redirectOutput(dir.resolve("chromium.log").toFile())
                .start();
        boolean ended = p.waitFor(120, TimeUnit.SECONDS);
        if (!ended) {
            p.destroyForcibly();
        }
        assertTrue(ended, "chromium did not finish within 120 s");
        assertTrue(Files.isRegularFile(shot), "no screenshot; chromium said: " + Files.readString(dir.resolve("chromium.log")));
        BufferedImage image = ImageIO.read(shot.toFile());
        assertNotNull(image, "the screenshot is not a PNG");
        assertEquals(1200, image.getWidth());
        assertFalse(blank(image), "the screenshot is all white");
        String keep = System.getProperty("onnxfuse.htmlScreenshot");
        if (keep != null && !keep.isEmpty()) {
            Files.copy(shot, Path.of(keep), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static String executable(String... names) {
        String path = System.getenv("PATH");
        if (path == null) {
            return null;
        }
        for (String name : names) {
            for (String folder : path.split(File.pathSeparator)) {
                Path candidate = Path.of(folder, name);
                if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                    return candidate.toString();
                }
            }
        }
        return null;
    }

    /** Whether every pixel is white. */
    private static boolean blank(BufferedImage image) {
        for (int y = 0; y < image.getHeight(); y++) {
            for (int x = 0; x < image.getWidth(); x++) {
                if ((image.getRGB(x, y) & 0xFFFFFF) != 0xFFFFFF) {
                    return false;
                }
            }
        }
        return true;
    }

    private List<String> folderContents() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith("input_")).sorted().toList();
        }
    }
}
