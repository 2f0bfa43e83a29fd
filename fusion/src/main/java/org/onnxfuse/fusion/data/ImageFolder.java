package org.onnxfuse.fusion.data;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;

/**
 * Calibration images from a folder: every PNG, JPEG, BMP or GIF file in it (and in its
 * sub-folders, one per class when the images are sorted that way), in name order, decoded in
 * batches. Each image is resized (bilinear) to the model input's height and width, turned into its
 * channels (1: grey as the mean of R, G, B; 3: R, G, B), scaled to [0, 1] and normalised per
 * channel as (v - mean) / std ({@link Normalisation}, as torchvision's Normalize), laid out as the
 * model's [N, C, H, W] input.
 */
public final class ImageFolder implements SampleArray {
    private static final List<String> EXTENSIONS = List.of(".png", ".jpg", ".jpeg", ".bmp", ".gif");

    private final Path folder;
    private final List<Path> files;
    private final int channels;
    private final int height;
    private final int width;
    private final Normalisation normalisation;

    /**
     * Per-channel (v - mean) / std after scaling to [0, 1]; one value applies to every channel.
     * {@link #NONE} leaves [0, 1].
     */
    public record Normalisation(float[] mean, float[] std) {
        public static final Normalisation NONE = new Normalisation(new float[] {0f}, new float[] {1f});

        public Normalisation {
            mean = mean.clone();
            std = std.clone();
            for (float v : std) {
                if (!(v > 0) || !Float.isFinite(v)) {
                    throw new DataException(ErrorCode.USAGE, "--std: expected positive numbers, found "
                            + Arrays.toString(std));
                }
            }
        }

        float mean(int channel) {
            return mean[mean.length == 1 ? 0 : channel];
        }

        float std(int channel) {
            return std[std.length == 1 ? 0 : channel];
        }

        void check(Path folder, int channels) {
            if ((mean.length != 1 && mean.length != channels) || (std.length != 1 && std.length != channels)) {
                throw new DataException(ErrorCode.USAGE, folder + ": --mean and --std take one value or one per"
                        + " channel (" + channels + "), found " + mean.length + " and " + std.length);
            }
        }
    }

    private ImageFolder(Path folder, List<Path> files, int channels, int height, int width,
                        Normalisation normalisation) {
        this.normalisation = normalisation;
        this.folder = folder;
        this.files = files;
        this.channels = channels;
        this.height = height;
        this.width = width;
    }

    /**
     * @param inputShape the model input's shape [N, C, H, W]; C must be 1 or 3 and H, W fixed
     * @throws DataException DATA_FORMAT for a folder with no images or a model input that is not an
     *     image with fixed height and width and 1 or 3 channels
     */
    public static ImageFolder open(Path folder, long[] inputShape, Normalisation normalisation) {
        if (inputShape.length != 4 || (inputShape[1] != 1 && inputShape[1] != 3) || inputShape[2] < 1
                || inputShape[3] < 1) {
            throw new DataException(ErrorCode.DATA_FORMAT, folder + ": a folder of images feeds a model input of"
                    + " shape [N, C, H, W] with C = 1 or 3 and fixed H and W, found input shape "
                    + Arrays.toString(inputShape) + "; give the data as a .npy instead");
        }
        List<Path> files;
        try (Stream<Path> walk = Files.walk(folder, 2)) {
            files = walk.filter(Files::isRegularFile).filter(ImageFolder::isImage)
                    .sorted(Comparator.comparing(p -> folder.relativize(p).toString())).toList();
        } catch (IOException e) {
            throw new DataException(ErrorCode.DATA_FORMAT, folder + ": cannot list the folder (" + e.getMessage() + ")");
        }
        if (files.isEmpty()) {
            throw new DataException(ErrorCode.DATA_FORMAT, folder + ": expected image files (" + EXTENSIONS
                    + ") in the folder or its sub-folders, found none");
        }
        normalisation.check(folder, (int) inputShape[1]);
        return new ImageFolder(folder, files, (int) inputShape[1], (int) inputShape[2], (int) inputShape[3],
                normalisation);
    }

    private static boolean isImage(Path p) {
        String name = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return EXTENSIONS.stream().anyMatch(name::endsWith);
    }

    /** The image files in sample order. */
    public List<Path> files() {
        return files;
    }

    @Override
    public String source() {
        return folder.toString();
    }

    @Override
    public ArrayHeader header() {
        return new ArrayHeader(DType.FLOAT32, ByteOrder.LITTLE_ENDIAN,
                new long[] {files.size(), channels, height, width}, false, 0);
    }

    @Override
    public float[] readFloats(long firstSample, int count) {
        float[] out = new float[Math.multiplyExact(count, channels * height * width)];
        readFloats(firstSample, count, out);
        return out;
    }

    @Override
    public void readFloats(long firstSample, int count, float[] dst) {
        int plane = height * width;
        for (int s = 0; s < count; s++) {
            Path file = files.get(Math.toIntExact(firstSample + s));
            BufferedImage image = resized(decode(file));
            int base = s * channels * plane;
            for (int y = 0; y < height; y++) {
                for (int x = 0; x < width; x++) {
                    int rgb = image.getRGB(x, y);
                    float r = ((rgb >> 16) & 0xff) / 255f;
                    float g = ((rgb >> 8) & 0xff) / 255f;
                    float b = (rgb & 0xff) / 255f;
                    int at = y * width + x;
                    if (channels == 1) {
                        dst[base + at] = normalised((r + g + b) / 3f, 0);
                    } else {
                        dst[base + at] = normalised(r, 0);
                        dst[base + plane + at] = normalised(g, 1);
                        dst[base + 2 * plane + at] = normalised(b, 2);
                    }
                }
            }
        }
    }

    private float normalised(float v, int channel) {
        return (v - normalisation.mean(channel)) / normalisation.std(channel);
    }

    private static BufferedImage decode(Path file) {
        try {
            BufferedImage image = ImageIO.read(file.toFile());
            if (image == null) {
                throw new DataException(ErrorCode.DATA_FORMAT, file + ": expected a PNG, JPEG, BMP or GIF image,"
                        + " found a file no image reader decodes");
            }
            return image;
        } catch (IOException e) {
            throw new DataException(ErrorCode.DATA_FORMAT, file + ": cannot decode the image (" + e.getMessage() + ")");
        }
    }

    private BufferedImage resized(BufferedImage image) {
        if (image.getWidth() == width && image.getHeight() == height) {
            return image;
        }
        BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
            g.drawImage(image, 0, 0, width, height, null);
        } finally {
            g.dispose();
        }
        return out;
    }

    @Override
    public long[] readLongs(long firstSample, int count) {
        throw new DataException(ErrorCode.DATA_DTYPE, source() + ": holds float32 samples, not integer labels");
    }

    @Override
    public void close() {
    }
}
