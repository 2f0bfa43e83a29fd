package org.onnxfuse.fusion.data;

import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;

/**
 * Calibration images from a folder: every PNG, JPEG, BMP or GIF file in it, or in its sub-folders
 * when it holds one sub-folder per class (then the sub-folders give the labels, see
 * {@link ClassFolders}), decoded in batches. Each image is brought to the model input's height and
 * width ({@link Resize}), turned into its channels (1: the luminance 0.299 R + 0.587 G + 0.114 B, or
 * a grey image's own value; 3: R, G, B or, with {@link Options#bgr}, B, G, R), scaled to [0, 1],
 * normalised per channel as (v - mean) / std ({@link Normalisation}, as torchvision's Normalize) and
 * laid out as the model's [N, C, H, W] or [N, H, W, C] input ({@link Layout}).
 */
public final class ImageFolder implements SampleArray {
    private static final List<String> EXTENSIONS = List.of(".png", ".jpg", ".jpeg", ".bmp", ".gif");

    private final Path folder;
    private final ClassFolders classes;
    private final int channels;
    private final int height;
    private final int width;
    private final boolean channelsLast;
    private final Options options;

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

    /** How an image is brought to the input's height and width. */
    public enum Resize {
        /** Bilinear to H x W, the aspect ratio not kept. */
        FIT("fit"),
        /** Scaled (bilinear) so that it covers H x W (the short side to its target), then the centre cropped. */
        CENTER_CROP("center-crop"),
        /** Not resized: every image must already be H x W. */
        NONE("none");

        private final String cliName;

        Resize(String cliName) {
            this.cliName = cliName;
        }

        public String cliName() {
            return cliName;
        }

        /** @throws DataException USAGE naming the known names */
        public static Resize fromName(String name) {
            for (Resize r : values()) {
                if (r.cliName.equalsIgnoreCase(name.strip())) {
                    return r;
                }
            }
            throw new DataException(ErrorCode.USAGE, "--resize: expected fit, center-crop or none, found '" + name
                    + "'");
        }
    }

    /** Where the channel axis is: [N, C, H, W] or [N, H, W, C]. */
    public enum Layout {
        NCHW, NHWC;

        public String cliName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** @throws DataException USAGE naming the known names */
        public static Layout fromName(String name) {
            for (Layout l : values()) {
                if (l.cliName().equalsIgnoreCase(name.strip())) {
                    return l;
                }
            }
            throw new DataException(ErrorCode.USAGE, "--layout: expected nchw or nhwc, found '" + name + "'");
        }

        /**
         * The layout a model input's shape implies: NHWC when the last axis is 1 or 3 and the axis
         * after the batch is not (a channels-first axis), else NCHW.
         */
        public static Layout of(long[] inputShape) {
            return inputShape.length == 4 && (inputShape[3] == 1 || inputShape[3] == 3)
                    && inputShape[1] != 1 && inputShape[1] != 3 ? NHWC : NCHW;
        }
    }

    /**
     * How images are read.
     *
     * @param normalisation --mean and --std
     * @param resize --resize
     * @param bgr whether 3 channels are stored B, G, R (--channels bgr) rather than R, G, B
     * @param layout --layout, or null for the one the input's shape implies ({@link Layout#of})
     */
    public record Options(Normalisation normalisation, Resize resize, boolean bgr, Layout layout) {
        public static final Options DEFAULT = new Options(Normalisation.NONE, Resize.FIT, false, null);

        public Options {
            java.util.Objects.requireNonNull(normalisation, "normalisation");
            java.util.Objects.requireNonNull(resize, "resize");
        }

        public static Options of(Normalisation normalisation) {
            return new Options(normalisation, Resize.FIT, false, null);
        }

        /** --channels rgb or bgr. */
        public static boolean parseBgr(String channels) {
            return switch (channels.strip().toLowerCase(Locale.ROOT)) {
                case "rgb" -> false;
                case "bgr" -> true;
                default -> throw new DataException(ErrorCode.USAGE, "--channels: expected rgb or bgr, found '"
                        + channels + "'");
            };
        }
    }

    /**
     * How a folder's images are arranged: directly in it (no labels), or in one sub-folder per class.
     * Class sub-folders sorted by name are the classes 0..C-1; when every name is an integer they sort
     * numerically and the number is the label.
     *
     * @param files the image files in sample order: the classes in turn (round robin), each class's
     *              images in name order
     * @param classes each class sub-folder's name and label, in label order; empty without sub-folders
     * @param labels each file's label; null without sub-folders
     * @param numericNames whether the sub-folders' names are their labels
     */
    public record ClassFolders(Path folder, List<Path> files, Map<String, Integer> classes, long[] labels,
                               boolean numericNames) {
        public boolean labelled() {
            return labels != null;
        }

        /** The largest label + 1: the classes the model needs at least. */
        public int classCount() {
            return classes.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        }

        /** "cat -> 0, dog -> 1". */
        public String mapping() {
            StringBuilder s = new StringBuilder();
            classes.forEach((name, label) -> s.append(s.length() == 0 ? "" : ", ").append(name).append(" -> ")
                    .append(label));
            return s.toString();
        }

        /**
         * @throws DataException DATA_SHAPE when a label is not a class of a model with {@code outputs}
         *     classes
         */
        public void checkClasses(int outputs) {
            if (labelled() && classCount() > outputs) {
                throw new DataException(ErrorCode.DATA_SHAPE, folder + ": expected at most " + outputs
                        + " class sub-folders (labels 0.." + (outputs - 1) + ", the model's outputs), found "
                        + classes.size() + (numericNames ? " up to label " + (classCount() - 1) : "") + " ("
                        + mapping() + ")");
            }
        }

        /** The labels as an int64 array of shape [N] (the source names the folder). */
        public SampleArray labelArray() {
            if (labels == null) {
                throw new IllegalStateException(folder + " has no class sub-folders");
            }
            return new LabelArray(folder + " (class sub-folders)", labels);
        }
    }

    /**
     * Lists {@code folder}: images directly in it, or one sub-folder of images per class.
     *
     * @throws DataException DATA_FORMAT for no images, images both directly in the folder and in
     *     sub-folders, or a class sub-folder without images
     */
    public static ClassFolders scan(Path folder) {
        List<Path> topImages = new ArrayList<>();
        List<Path> subFolders = new ArrayList<>();
        try (Stream<Path> list = Files.list(folder)) {
            for (Path p : list.toList()) {
                if (p.getFileName().toString().startsWith(".")) {
                    continue;
                }
                if (Files.isDirectory(p)) {
                    subFolders.add(p);
                } else if (Files.isRegularFile(p) && isImage(p)) {
                    topImages.add(p);
                }
            }
        } catch (IOException e) {
            throw new DataException(ErrorCode.DATA_FORMAT, folder + ": cannot list the folder (" + e.getMessage() + ")");
        }
        Map<Path, List<Path>> perFolder = new LinkedHashMap<>();
        for (Path sub : subFolders) {
            perFolder.put(sub, images(sub));
        }
        List<Path> withImages = subFolders.stream().filter(s -> !perFolder.get(s).isEmpty()).toList();
        if (!topImages.isEmpty() && !withImages.isEmpty()) {
            throw new DataException(ErrorCode.DATA_FORMAT, folder + ": expected images either directly in the folder"
                    + " or in one sub-folder per class, found both: " + topImages.size() + " images such as "
                    + folder.relativize(topImages.stream().sorted().findFirst().orElseThrow()) + " and the"
                    + " sub-folders " + withImages.stream().map(s -> s.getFileName().toString()).sorted().toList());
        }
        if (!topImages.isEmpty()) {
            List<Path> files = topImages.stream().sorted(Comparator.comparing(p -> p.getFileName().toString())).toList();
            return new ClassFolders(folder, files, Collections.emptyMap(), null, false);
        }
        if (subFolders.isEmpty()) {
            throw new DataException(ErrorCode.DATA_FORMAT, folder + ": expected image files (" + EXTENSIONS
                    + ") in the folder or in one sub-folder per class, found none");
        }
        List<Path> empty = subFolders.stream().filter(s -> perFolder.get(s).isEmpty()).toList();
        if (!empty.isEmpty()) {
            throw new DataException(ErrorCode.DATA_FORMAT, folder + ": expected image files (" + EXTENSIONS
                    + ") in every class sub-folder, found none in " + empty.stream()
                    .map(s -> s.getFileName().toString()).sorted().toList());
        }
        boolean numeric = subFolders.stream().allMatch(s -> s.getFileName().toString().matches("\\d{1,9}"));
        List<Path> sorted = new ArrayList<>(subFolders);
        sorted.sort(numeric ? Comparator.comparingInt((Path s) -> Integer.parseInt(s.getFileName().toString()))
                .thenComparing(s -> s.getFileName().toString())
                : Comparator.comparing(s -> s.getFileName().toString()));
        Map<String, Integer> classes = new LinkedHashMap<>();
        List<Path> files = new ArrayList<>();
        List<Long> labels = new ArrayList<>();
        for (int c = 0; c < sorted.size(); c++) {
            Path sub = sorted.get(c);
            String name = sub.getFileName().toString();
            int label = numeric ? Integer.parseInt(name) : c;
            if (numeric && classes.containsValue(label)) {
                throw new DataException(ErrorCode.DATA_FORMAT, folder + ": class sub-folder " + name + " names the"
                        + " label " + label + " that another sub-folder names too; expected one sub-folder per label");
            }
            classes.put(name, label);
        }
        // round robin over the classes (each in name order), so that the first N samples (--samples,
        // and the ones --check holds out after them) cover every class, not the first classes only
        int longest = sorted.stream().mapToInt(sub -> perFolder.get(sub).size()).max().orElse(0);
        List<Integer> classLabels = new ArrayList<>(classes.values());
        for (int i = 0; i < longest; i++) {
            for (int c = 0; c < sorted.size(); c++) {
                List<Path> images = perFolder.get(sorted.get(c));
                if (i < images.size()) {
                    files.add(images.get(i));
                    labels.add((long) classLabels.get(c));
                }
            }
        }
        return new ClassFolders(folder, List.copyOf(files), Collections.unmodifiableMap(classes),
                labels.stream().mapToLong(Long::longValue).toArray(), numeric);
    }

    private static List<Path> images(Path sub) {
        try (Stream<Path> list = Files.list(sub)) {
            return list.filter(p -> !p.getFileName().toString().startsWith(".")).filter(Files::isRegularFile)
                    .filter(ImageFolder::isImage)
                    .sorted(Comparator.comparing(p -> p.getFileName().toString())).toList();
        } catch (IOException e) {
            throw new DataException(ErrorCode.DATA_FORMAT, sub + ": cannot list the folder (" + e.getMessage() + ")");
        }
    }

    private ImageFolder(ClassFolders classes, int channels, int height, int width, boolean channelsLast,
                        Options options) {
        this.folder = classes.folder();
        this.classes = classes;
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.channelsLast = channelsLast;
        this.options = options;
    }

    /** As {@link #open(Path, long[], Options)} with --resize fit, RGB and the layout from the shape. */
    public static ImageFolder open(Path folder, long[] inputShape, Normalisation normalisation) {
        return open(folder, inputShape, Options.of(normalisation));
    }

    /**
     * @param inputShape the model input's shape, [N, C, H, W] or [N, H, W, C] ({@link Options#layout});
     *     C must be 1 or 3 and H, W fixed
     * @throws DataException DATA_FORMAT for a folder with no images (see {@link #scan}) or a model
     *     input that is not an image with fixed height and width and 1 or 3 channels
     */
    public static ImageFolder open(Path folder, long[] inputShape, Options options) {
        Layout layout = options.layout() != null ? options.layout() : Layout.of(inputShape);
        boolean last = layout == Layout.NHWC;
        int c = last ? 3 : 1;
        int h = last ? 1 : 2;
        int w = last ? 2 : 3;
        if (inputShape.length != 4 || (inputShape[c] != 1 && inputShape[c] != 3) || inputShape[h] < 1
                || inputShape[w] < 1) {
            throw new DataException(ErrorCode.DATA_FORMAT, folder + ": a folder of images feeds a model input of"
                    + " shape " + (last ? "[N, H, W, C]" : "[N, C, H, W]") + " (--layout " + layout.cliName() + ")"
                    + " with C = 1 or 3 and fixed H and W, found input shape " + Arrays.toString(inputShape)
                    + "; give the data as a .npy instead");
        }
        ClassFolders classes = scan(folder);
        options.normalisation().check(folder, (int) inputShape[c]);
        return new ImageFolder(classes, (int) inputShape[c], (int) inputShape[h], (int) inputShape[w], last,
                options);
    }

    private static boolean isImage(Path p) {
        String name = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return EXTENSIONS.stream().anyMatch(name::endsWith);
    }

    /** The image files in sample order. */
    public List<Path> files() {
        return classes.files();
    }

    /** The folder's class sub-folders and labels. */
    public ClassFolders classes() {
        return classes;
    }

    @Override
    public String source() {
        return folder.toString();
    }

    @Override
    public ArrayHeader header() {
        long n = classes.files().size();
        return new ArrayHeader(DType.FLOAT32, ByteOrder.LITTLE_ENDIAN, channelsLast
                ? new long[] {n, height, width, channels} : new long[] {n, channels, height, width}, false, 0);
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
            Path file = classes.files().get(Math.toIntExact(firstSample + s));
            BufferedImage image = resized(file, decode(file));
            boolean grey = isGrey(image);
            double greyMax = grey ? (1 << image.getSampleModel().getSampleSize(0)) - 1 : 255;
            int base = s * channels * plane;
            for (int y = 0; y < height; y++) {
                for (int x = 0; x < width; x++) {
                    float r;
                    float g;
                    float b;
                    if (grey) {
                        // getRGB would convert the linear grey space to sRGB and brighten every value
                        r = (float) (image.getRaster().getSample(x, y, 0) / greyMax);
                        g = r;
                        b = r;
                    } else {
                        int rgb = image.getRGB(x, y);
                        r = ((rgb >> 16) & 0xff) / 255f;
                        g = ((rgb >> 8) & 0xff) / 255f;
                        b = (rgb & 0xff) / 255f;
                    }
                    int at = y * width + x;
                    if (channels == 1) {
                        put(dst, base, at, plane, 0, normalised(grey ? r : 0.299f * r + 0.587f * g + 0.114f * b, 0));
                    } else {
                        float first = options.bgr() ? b : r;
                        float third = options.bgr() ? r : b;
                        put(dst, base, at, plane, 0, normalised(first, 0));
                        put(dst, base, at, plane, 1, normalised(g, 1));
                        put(dst, base, at, plane, 2, normalised(third, 2));
                    }
                }
            }
        }
    }

    private void put(float[] dst, int base, int pixel, int plane, int channel, float value) {
        dst[base + (channelsLast ? pixel * channels + channel : channel * plane + pixel)] = value;
    }

    private float normalised(float v, int channel) {
        Normalisation n = options.normalisation();
        return (v - n.mean(channel)) / n.std(channel);
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

    private BufferedImage resized(Path file, BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        if (w == width && h == height) {
            return image;
        }
        return switch (options.resize()) {
            case NONE -> throw new DataException(ErrorCode.DATA_SHAPE, file + ": expected a " + width + " x " + height
                    + " image (width x height, the model input's; --resize none), found " + w + " x " + h
                    + "; use --resize fit or center-crop to resize");
            case FIT -> drawn(image, 0, 0, width, height);
            case CENTER_CROP -> {
                double scale = Math.max((double) width / w, (double) height / h);
                int sw = Math.max(width, (int) Math.round(w * scale));
                int sh = Math.max(height, (int) Math.round(h * scale));
                int left = (sw - width) / 2;
                int top = (sh - height) / 2;
                if (sw == w && sh == h) {
                    yield image.getSubimage(left, top, width, height); // only cropped: the pixels exactly
                }
                yield drawn(image, -left, -top, sw, sh);
            }
        };
    }

    /** A one-component grey image (not a palette one): its samples are the grey values. */
    private static boolean isGrey(BufferedImage image) {
        return !(image.getColorModel() instanceof java.awt.image.IndexColorModel)
                && image.getColorModel().getNumComponents() == 1 && image.getRaster().getNumBands() == 1;
    }

    /** {@code image} drawn (bilinear) at (x, y) with size sw x sh onto a width x height canvas. */
    private BufferedImage drawn(BufferedImage image, int x, int y, int sw, int sh) {
        boolean grey = isGrey(image);
        BufferedImage out = new BufferedImage(width, height, grey ? BufferedImage.TYPE_BYTE_GRAY
                : BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
            g.drawImage(image, x, y, sw, sh, null);
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

    /** A folder's labels as an int64 [N] array. */
    private static final class LabelArray implements SampleArray {
        private final String source;
        private final long[] labels;

        LabelArray(String source, long[] labels) {
            this.source = source;
            this.labels = labels;
        }

        @Override
        public String source() {
            return source;
        }

        @Override
        public ArrayHeader header() {
            return new ArrayHeader(DType.INT64, ByteOrder.LITTLE_ENDIAN, new long[] {labels.length}, false, 0);
        }

        @Override
        public float[] readFloats(long firstSample, int count) {
            float[] out = new float[count];
            for (int i = 0; i < count; i++) {
                out[i] = labels[Math.toIntExact(firstSample + i)];
            }
            return out;
        }

        @Override
        public long[] readLongs(long firstSample, int count) {
            return Arrays.copyOfRange(labels, Math.toIntExact(firstSample), Math.toIntExact(firstSample + count));
        }

        @Override
        public void close() {
        }
    }
}
