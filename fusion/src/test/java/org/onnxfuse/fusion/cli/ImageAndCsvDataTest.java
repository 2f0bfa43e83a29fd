package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.data.NpyArray;
import org.onnxfuse.fusion.data.SampleArray;
import org.onnxfuse.fusion.testing.Fixtures;

/**
 * Calibration data as a folder of PNG and JPEG images (written here from the MNIST calibration
 * samples, one sub-folder per class, which are also their labels) and as a CSV file: the fusion sees
 * the same samples as from the .npy (up to 8-bit pixels and JPEG's loss) and reaches the same accuracy.
 */
class ImageAndCsvDataTest {
    // the fixture data is (pixel - 0.1307) / 0.3081 in float16
    private static final float MEAN = 0.1307f;
    private static final float STD = 0.3081f;

    @TempDir
    Path dir;

    private float[][] samples(int count) {
        try (SampleArray x = NpyArray.open(Fixtures.data("calib400_x.npy"))) {
            float[] v = x.readFloats(0, count);
            float[][] out = new float[count][];
            for (int i = 0; i < count; i++) {
                out[i] = java.util.Arrays.copyOfRange(v, i * 784, (i + 1) * 784);
            }
            return out;
        }
    }

    private double fusedAccuracy(String data, String... extra) throws IOException {
        Path report = dir.resolve("r" + System.nanoTime() + ".json");
        List<String> args = new ArrayList<>(List.of(Fixtures.model("mlp_k2_p0.onnx").toString(),
                Fixtures.model("mlp_k2_p1.onnx").toString(), "--data", data, "--eval-data",
                Fixtures.data("test_x.npy").toString(), "--eval-labels", Fixtures.data("test_y.npy").toString(),
                "--threads", "2", "--no-check", "-o", dir.resolve("f" + System.nanoTime() + ".onnx").toString(),
                "--report", report.toString(), "-q"));
        args.addAll(List.of(extra));
        CliRunner cli = new CliRunner();
        assertEquals(0, cli.run(args.toArray(String[]::new)), cli.err.toString());
        JsonNode json = new ObjectMapper().readTree(report.toFile());
        return json.get("accuracy").get("fused").asDouble();
    }

    @Test
    void aFolderOfImagesAndACsvGiveWhatTheNpyGives() throws IOException {
        int count = 300;
        float[][] x = samples(count);
        long[] y;
        try (SampleArray labels = NpyArray.open(Fixtures.data("calib400_y.npy"))) {
            y = labels.readLongs(0, count);
        }
        Path images = Files.createDirectory(dir.resolve("images"));
        StringBuilder csv = new StringBuilder("p0");
        for (int i = 1; i < 784; i++) {
            csv.append(",p").append(i);
        }
        csv.append('\n');
        for (int i = 0; i < count; i++) {
            BufferedImage image = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
            for (int p = 0; p < 784; p++) {
                int grey = Math.round(Math.max(0f, Math.min(1f, x[i][p] * STD + MEAN)) * 255f);
                image.getRaster().setSample(p % 28, p / 28, 0, grey);
                csv.append(p == 0 ? "" : ",").append(String.format(Locale.ROOT, "%.5f", x[i][p]));
            }
            csv.append('\n');
            Path classFolder = Files.createDirectories(images.resolve("class" + y[i]));
            String format = i % 10 == 0 ? "jpg" : "png";
            ImageIO.write(image, format, classFolder.resolve(String.format("%04d.%s", i, format)).toFile());
        }
        Path csvFile = dir.resolve("calib.csv");
        Files.writeString(csvFile, csv);
        // the first 300 samples of the fixture, as --samples 300 reads them
        double fromNpy = fusedAccuracy(Fixtures.data("calib400_x.npy").toString(), "--samples", "300");
        double fromCsv = fusedAccuracy(csvFile.toString());
        double fromImages = fusedAccuracy(images.toString(), "--mean", String.valueOf(MEAN), "--std",
                String.valueOf(STD));
        System.out.printf("fused accuracy from npy %.4f, csv %.4f, images %.4f%n", fromNpy, fromCsv, fromImages);
        assertEquals(fromNpy, fromCsv, 2.0 / 1500, "CSV holds the same values to 5 decimals");
        assertEquals(fromNpy, fromImages, 0.01, "8-bit pixels and JPEG loss move the fit only slightly");
    }

    @Test
    void meanAndStdWithoutAnImageFolderAreRefused() {
        CliRunner cli = new CliRunner();
        assertEquals(2, cli.run(Fixtures.model("mlp_k2_p0.onnx").toString(), Fixtures.model("mlp_k2_p1.onnx").toString(),
                "--data", Fixtures.data("calib400_x.npy").toString(), "--mean", "0.5", "-o",
                dir.resolve("x.onnx").toString()));
        assertTrue(cli.err.toString().contains("--mean and --std normalise a folder of images"), cli.err.toString());
    }
}
