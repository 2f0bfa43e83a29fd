package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.data.ImageFolder;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.fusion.importance.ClassWeights;
import org.onnxfuse.fusion.pipeline.Fusion;
import org.onnxfuse.fusion.pipeline.FusionResult;
import org.onnxfuse.fusion.pipeline.InvalidSettingException;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.errors.DataException;

/**
 * Image folders: class sub-folders as labels (numeric and named, through the fusion and the
 * accuracy table, and every refusal), and the pixels --resize, --channels, --layout and a grey
 * model produce, value by value on small images made here.
 */
class ImageFolderLabelsTest {
    private static final float MEAN = 0.1307f;
    private static final float STD = 0.3081f;
    private static final int COUNT = 120;

    @TempDir
    Path dir;

    /** The first COUNT MNIST calibration samples as 28x28 grey PNG/JPEG files, one sub-folder per label. */
    private int[] writeMnist(Path folder, IntFunction<String> className) throws IOException {
        float[] x;
        long[] y;
        try (SampleArray xs = NpyArray.open(Fixtures.data("calib400_x.npy"));
             SampleArray ys = NpyArray.open(Fixtures.data("calib400_y.npy"))) {
            x = xs.readFloats(0, COUNT);
            y = ys.readLongs(0, COUNT);
        }
        int[] perClass = new int[10];
        for (int i = 0; i < COUNT; i++) {
            BufferedImage image = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
            for (int p = 0; p < 784; p++) {
                float v = x[i * 784 + p] * STD + MEAN;
                image.getRaster().setSample(p % 28, p / 28, 0, Math.round(Math.max(0f, Math.min(1f, v)) * 255f));
            }
            Path sub = Files.createDirectories(folder.resolve(className.apply((int) y[i])));
            String format = i % 7 == 0 ? "jpg" : "png";
            ImageIO.write(image, format, sub.resolve(String.format("%04d.%s", i, format)).toFile());
            perClass[(int) y[i]]++;
        }
        return perClass;
    }

    private List<String> fuseArgs(String... extra) {
        List<String> args = new ArrayList<>(List.of(Fixtures.model("mlp_k2_p0.onnx").toString(),
                Fixtures.model("mlp_k2_p1.onnx").toString(), "--threads", "2", "--no-check", "-o",
                dir.resolve("f" + System.nanoTime() + ".onnx").toString(), "--mean", String.valueOf(MEAN), "--std",
                String.valueOf(STD)));
        args.addAll(List.of(extra));
        return args;
    }

    @Test
    void numericAndNamedClassSubFoldersAreTheLabels() throws IOException {
        Path numeric = dir.resolve("numeric");
        int[] perClass = writeMnist(numeric, c -> String.valueOf(c));
        Path named = dir.resolve("named");
        writeMnist(named, c -> "digit" + c);

        // numeric names: the labels of the calibration data, and (no evaluation set) the accuracy's data
        Path report = dir.resolve("numeric.json");
        CliRunner cli = new CliRunner();
        assertEquals(0, cli.run(fuseArgs("--data", numeric.toString(), "--report", report.toString())
                .toArray(String[]::new)), cli.err.toString());
        assertFalse(cli.err.toString().contains("labels from the class sub-folders"), "numeric names are the labels");
        JsonNode json = new ObjectMapper().readTree(report.toFile());
        JsonNode accuracy = json.get("accuracy");
        assertTrue(accuracy != null && !accuracy.isNull(), json.toString());
        assertEquals(COUNT, accuracy.get("samples").asInt());
        assertEquals(numeric.toString(), accuracy.get("data").asText());
        for (int c = 0; c < 10; c++) {
            assertEquals(perClass[c], accuracy.get("perClass").get(c).get("samples").asInt(), "class " + c);
        }
        assertTrue(accuracy.get("fused").asDouble() > 0.8, accuracy.toString());
        assertEquals(7, json.get("config").get("dataClasses").get("7").asInt());

        // named: sorted names are 0..9, printed; --class-weights confidence needs labels, so they reach
        // the fusion; a labelled --eval-data folder needs no --eval-labels
        report = dir.resolve("named.json");
        cli = new CliRunner();
        assertEquals(0, cli.run(fuseArgs("--data", named.toString(), "--class-weights", "confidence",
                "--eval-data", numeric.toString(), "--report", report.toString()).toArray(String[]::new)),
                cli.err.toString());
        assertTrue(cli.err.toString().contains("labels from the class sub-folders of " + named + ": digit0 -> 0,"
                + " digit1 -> 1, digit2 -> 2"), cli.err.toString());
        json = new ObjectMapper().readTree(report.toFile());
        assertEquals(3, json.get("config").get("dataClasses").get("digit3").asInt());
        assertEquals("confidence", json.get("config").get("classWeights").asText(), json.get("config").toString());
        assertEquals(numeric.toString(), json.get("accuracy").get("data").asText());
        assertEquals(COUNT, json.get("accuracy").get("samples").asInt());
        assertTrue(json.get("accuracy").get("fused").asDouble() > 0.8, json.get("accuracy").toString());
    }

    @Test
    void theLibraryBuilderTakesTheLabelsFromClassSubFoldersToo() throws IOException {
        Path named = dir.resolve("named");
        writeMnist(named, c -> "digit" + c);
        ImageFolder.Options options = ImageFolder.Options.of(new ImageFolder.Normalisation(new float[] {MEAN},
                new float[] {STD}));
        // --class-weights confidence needs labels: the folder's sub-folders are enough
        FusionResult fromFolder = Fusion.builder().parents(Fixtures.model("mlp_k2_p0.onnx"),
                        Fixtures.model("mlp_k2_p1.onnx")).calibration(named, options)
                .classWeights(ClassWeights.CONFIDENCE).device("cpu").threads(2).log(line -> { }).build().fuse();
        assertEquals("labels", fromFolder.importance().labelSource());
        // the same labels given explicitly, in the folder's sample order, give the same model
        long[] labels = ImageFolder.scan(named).labels();
        FusionResult explicit = Fusion.builder().parents(Fixtures.model("mlp_k2_p0.onnx"),
                        Fixtures.model("mlp_k2_p1.onnx")).calibration(named, options).labels(labels)
                .classWeights(ClassWeights.CONFIDENCE).device("cpu").threads(2).log(line -> { }).build().fuse();
        assertArrayEquals(Fixtures.logits(explicit.model(), Fixtures.data("test_x.npy")),
                Fixtures.logits(fromFolder.model(), Fixtures.data("test_x.npy")));
        // without sub-folders there are no labels, and confidence is refused before any work
        Path flat = Files.createDirectories(dir.resolve("flat"));
        try (var files = Files.walk(named)) {
            for (Path f : files.filter(Files::isRegularFile).limit(20).toList()) {
                Files.copy(f, flat.resolve(f.getParent().getFileName() + "_" + f.getFileName()));
            }
        }
        assertThrows(InvalidSettingException.class, () -> Fusion.builder().parents(Fixtures.model("mlp_k2_p0.onnx"),
                        Fixtures.model("mlp_k2_p1.onnx")).calibration(flat, options)
                .classWeights(ClassWeights.CONFIDENCE).device("cpu").threads(2).log(line -> { }).build());
    }

    private static void png(Path file, int width, int height, int rgb) throws IOException {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                image.setRGB(x, y, rgb);
            }
        }
        Files.createDirectories(file.getParent());
        ImageIO.write(image, "png", file.toFile());
    }

    private CliRunner refused(int exit, String message, String... args) {
        CliRunner cli = new CliRunner();
        assertEquals(exit, cli.run(fuseArgs(args).toArray(String[]::new)), cli.err.toString());
        assertTrue(cli.err.toString().contains(message), cli.err.toString());
        return cli;
    }

    @Test
    void theClassesTakeTurnsSoThatEveryPrefixCoversThemAll() throws IOException {
        Path folder = dir.resolve("turns");
        int[] counts = {3, 1, 2};
        String[] names = {"ant", "bee", "cat"};
        for (int c = 0; c < names.length; c++) {
            for (int i = 0; i < counts[c]; i++) {
                png(folder.resolve(names[c]).resolve("img" + i + ".png"), 4, 4, 0x101010 * (c + 1));
            }
        }
        org.onnxfuse.fusion.data.ImageFolder.ClassFolders scanned = org.onnxfuse.fusion.data.ImageFolder.scan(folder);
        assertEquals(java.util.List.of("ant/img0.png", "bee/img0.png", "cat/img0.png", "ant/img1.png", "cat/img1.png",
                "ant/img2.png"), scanned.files().stream().map(f -> folder.relativize(f).toString()).toList());
        assertEquals("[0, 1, 2, 0, 2, 0]", java.util.Arrays.toString(scanned.labels()));
    }

    @Test
    void badClassFoldersAreRefusedNamingWhatWasExpectedAndFound() throws IOException {
        Path mixed = dir.resolve("mixed");
        png(mixed.resolve("top.png"), 28, 28, 0x808080);
        png(mixed.resolve("3").resolve("a.png"), 28, 28, 0x808080);
        refused(40, "expected images either directly in the folder or in one sub-folder per class, found both: 1"
                + " images such as top.png and the sub-folders [3]", "--data", mixed.toString());

        Path empty = dir.resolve("empty");
        png(empty.resolve("cat").resolve("a.png"), 28, 28, 0x808080);
        Files.createDirectories(empty.resolve("dog"));
        refused(40, "expected image files ([.png, .jpg, .jpeg, .bmp, .gif]) in every class sub-folder, found none"
                + " in [dog]", "--data", empty.toString());

        Path many = dir.resolve("many");
        for (int c = 0; c < 11; c++) {
            png(many.resolve("k" + (char) ('a' + c)).resolve("a.png"), 28, 28, 0x808080);
        }
        refused(42, "expected at most 10 class sub-folders (labels 0..9, the model's outputs), found 11 (ka -> 0,",
                "--data", many.toString());

        Path high = dir.resolve("high");
        png(high.resolve("2").resolve("a.png"), 28, 28, 0x808080);
        png(high.resolve("12").resolve("a.png"), 28, 28, 0x808080);
        refused(42, "found 2 up to label 12 (2 -> 2, 12 -> 12)", "--data", Fixtures.data("calib400_x.npy").toString(),
                "--eval-data", high.toString());

        Path flat = dir.resolve("flat");
        png(flat.resolve("a.png"), 28, 28, 0x808080);
        refused(2, "--eval-data and --eval-labels go together", "--data", flat.toString(), "--eval-data",
                flat.toString());

        Path wrongSize = dir.resolve("size");
        png(wrongSize.resolve("0").resolve("a.png"), 28, 28, 0x808080);
        png(wrongSize.resolve("1").resolve("b.png"), 30, 28, 0x808080);
        refused(42, wrongSize.resolve("1").resolve("b.png") + ": expected a 28 x 28 image (width x height, the"
                + " model input's; --resize none), found 30 x 28", "--data", wrongSize.toString(), "--resize", "none");

        refused(2, "--resize: expected fit, center-crop or none, found 'crop'", "--data", flat.toString(),
                "--resize", "crop");
        refused(2, "--channels: expected rgb or bgr, found 'rbg'", "--data", flat.toString(), "--channels", "rbg");
        CliRunner cli = new CliRunner();
        assertEquals(2, cli.run(Fixtures.model("mlp_k2_p0.onnx").toString(), Fixtures.model("mlp_k2_p1.onnx").toString(),
                "--data", Fixtures.data("calib400_x.npy").toString(), "--layout", "nhwc", "-o",
                dir.resolve("x.onnx").toString()));
        assertTrue(cli.err.toString().contains("--resize, --channels and --layout read a folder of images"),
                cli.err.toString());
    }

    private static float[] read(Path folder, long[] shape, ImageFolder.Options options) {
        try (ImageFolder images = ImageFolder.open(folder, shape, options)) {
            return images.readFloats(0, Math.toIntExact(images.samples()));
        }
    }

    private static ImageFolder.Options options(ImageFolder.Resize resize, boolean bgr, ImageFolder.Layout layout) {
        return new ImageFolder.Options(ImageFolder.Normalisation.NONE, resize, bgr, layout);
    }

    @Test
    void centerCropKeepsTheMiddleColumns() throws IOException {
        // 6 x 2, column x has red 40 x, green 7 x + 1, blue 255 - 30 x: a 2 x 2 crop is columns 2 and 3
        BufferedImage image = new BufferedImage(6, 2, BufferedImage.TYPE_INT_RGB);
        for (int x = 0; x < 6; x++) {
            for (int y = 0; y < 2; y++) {
                image.setRGB(x, y, (40 * x) << 16 | (7 * x + 1) << 8 | (255 - 30 * x));
            }
        }
        Path folder = Files.createDirectories(dir.resolve("crop"));
        ImageIO.write(image, "png", folder.resolve("a.png").toFile());
        float[] v = read(folder, new long[] {1, 3, 2, 2}, options(ImageFolder.Resize.CENTER_CROP, false, null));
        float[] expected = new float[12];
        for (int y = 0; y < 2; y++) {
            for (int x = 0; x < 2; x++) {
                int col = x + 2;
                expected[y * 2 + x] = 40 * col / 255f;
                expected[4 + y * 2 + x] = (7 * col + 1) / 255f;
                expected[8 + y * 2 + x] = (255 - 30 * col) / 255f;
            }
        }
        assertArrayEquals(expected, v, 1e-6f);

        // 8 x 4 in four 2-column stripes, scaled to 4 x 2 (short side to 2), centre 2 x 2: stripes 2 and 3
        int[] stripes = {0x000000, 0xc80000, 0x00c800, 0xffffff};
        BufferedImage wide = new BufferedImage(8, 4, BufferedImage.TYPE_INT_RGB);
        for (int x = 0; x < 8; x++) {
            for (int y = 0; y < 4; y++) {
                wide.setRGB(x, y, stripes[x / 2]);
            }
        }
        Path scaled = Files.createDirectories(dir.resolve("scaled"));
        ImageIO.write(wide, "png", scaled.resolve("a.png").toFile());
        v = read(scaled, new long[] {1, 3, 2, 2}, options(ImageFolder.Resize.CENTER_CROP, false, null));
        float red = 200 / 255f;
        assertArrayEquals(new float[] {red, 0, red, 0, 0, red, 0, red, 0, 0, 0, 0}, v, 0.02f);
        // fit squeezes all four stripes into 2 columns instead
        float[] fit = read(scaled, new long[] {1, 3, 2, 2}, options(ImageFolder.Resize.FIT, false, null));
        assertTrue(fit[0] < 0.5f && fit[9] > 0.3f, java.util.Arrays.toString(fit));
    }

    @Test
    void bgrSwapsTheFirstAndLastChannel() throws IOException {
        Path folder = dir.resolve("bgr");
        png(folder.resolve("a.png"), 2, 2, 200 << 16 | 100 << 8 | 50);
        float[] rgb = read(folder, new long[] {1, 3, 2, 2}, options(ImageFolder.Resize.FIT, false, null));
        float[] bgr = read(folder, new long[] {1, 3, 2, 2}, options(ImageFolder.Resize.FIT, true, null));
        float r = 200 / 255f;
        float g = 100 / 255f;
        float b = 50 / 255f;
        assertArrayEquals(new float[] {r, r, r, r, g, g, g, g, b, b, b, b}, rgb, 1e-6f);
        assertArrayEquals(new float[] {b, b, b, b, g, g, g, g, r, r, r, r}, bgr, 1e-6f);
    }

    @Test
    void nhwcIsChannelsLastValueByValue() throws IOException {
        Path folder = dir.resolve("nhwc");
        png(folder.resolve("a.png"), 3, 2, 255 << 16 | 51 << 8 | 102); // 1.0, 0.2, 0.4
        ImageFolder.Options normalised = new ImageFolder.Options(new ImageFolder.Normalisation(
                new float[] {0.5f, 0.2f, 0.1f}, new float[] {0.5f, 0.25f, 0.1f}), ImageFolder.Resize.NONE, false, null);
        long[] shape = {1, 2, 3, 3}; // H = 2, W = 3, C = 3 last
        assertEquals(ImageFolder.Layout.NHWC, ImageFolder.Layout.of(shape));
        assertEquals(ImageFolder.Layout.NCHW, ImageFolder.Layout.of(new long[] {1, 3, 2, 3}));
        try (ImageFolder images = ImageFolder.open(folder, shape, normalised)) {
            assertArrayEquals(new long[] {1, 2, 3, 3}, images.header().shape());
        }
        float[] v = read(folder, shape, normalised);
        float[] pixel = {(1f - 0.5f) / 0.5f, (0.2f - 0.2f) / 0.25f, (0.4f - 0.1f) / 0.1f};
        assertEquals(18, v.length);
        for (int i = 0; i < 18; i++) {
            assertEquals(pixel[i % 3], v[i], 1e-5f, "element " + i);
        }
        // the same model input read as --layout nchw is C = 2: not an image
        DataException e = assertThrows(DataException.class, () -> read(folder, shape,
                options(ImageFolder.Resize.NONE, false, ImageFolder.Layout.NCHW)));
        assertTrue(e.getMessage().contains("(--layout nchw) with C = 1 or 3"), e.getMessage());
    }

    @Test
    void greyModelsTakeTheLuminanceAndGreyImagesTheirOwnValue() throws IOException {
        Path colour = dir.resolve("colour");
        png(colour.resolve("a.png"), 2, 2, 255 << 16); // pure red
        float[] v = read(colour, new long[] {1, 1, 2, 2}, options(ImageFolder.Resize.FIT, false, null));
        assertArrayEquals(new float[] {0.299f, 0.299f, 0.299f, 0.299f}, v, 1e-6f);

        Path grey = Files.createDirectories(dir.resolve("grey"));
        BufferedImage image = new BufferedImage(2, 2, BufferedImage.TYPE_BYTE_GRAY);
        for (int p = 0; p < 4; p++) {
            image.getRaster().setSample(p % 2, p / 2, 0, 100);
        }
        ImageIO.write(image, "png", grey.resolve("a.png").toFile());
        v = read(grey, new long[] {1, 1, 2, 2}, options(ImageFolder.Resize.FIT, false, null));
        assertArrayEquals(new float[] {100 / 255f, 100 / 255f, 100 / 255f, 100 / 255f}, v, 1e-6f);
        // and 3 channels of a grey image are that value three times
        v = read(grey, new long[] {1, 3, 2, 2}, options(ImageFolder.Resize.FIT, false, null));
        for (float f : v) {
            assertEquals(100 / 255f, f, 1e-6f);
        }
    }
}
