package org.onnxfuse.fusion.testing;

import static org.onnxfuse.fusion.plan.TestNets.shape;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import org.onnxfuse.fusion.plan.TestNets;
import org.onnxfuse.fusion.plan.TestNets.Net;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/** Small models with several inputs, built in code, and {@code .npz} data for them. */
public final class MultiInputNets {
    public static final int CLASSES = 4;
    public static final int TOKENS = 10;

    private MultiInputNets() {
    }

    /**
     * Two float inputs, features {@code x} [N, 6] and a side vector {@code side} [N, 3]: a level on
     * each, joined by a Concat into the level of classes.
     */
    public static Model twoBranches() {
        Net net = new Net("x", shape("batch", 6)).addInput("side", DataType.FLOAT, shape("batch", 3));
        net.gemm("fx", 6, 8, true, true).op("rx", "Relu");
        String features = net.value();
        net.at("side").gemm("fs", 3, 5, true, true).op("rs", "Relu");
        String side = net.value();
        net.node(Node.of("cat", "Concat", List.of(features, side), List.of("cat_out"), Attribute.ofLong("axis", 1)));
        return net.gemm("head", 13, CLASSES, true, true).build();
    }

    /** The inputs of {@link #twoBranches()} concatenated before the first level, then two levels. */
    public static Model concatenated() {
        Net net = new Net("x", shape("batch", 6)).addInput("side", DataType.FLOAT, shape("batch", 3));
        net.node(Node.of("cat", "Concat", List.of("x", "side"), List.of("joined"), Attribute.ofLong("axis", 1)));
        return net.gemm("fc1", 9, 8, true, true).op("r1", "Relu").gemm("fc2", 8, CLASSES, true, true).build();
    }

    /** Features {@code x} [N, 6] times Cast(int64 {@code mask} [N, 6]) before the first level, then two levels. */
    public static Model masked() {
        Net net = new Net("x", shape("batch", 6)).addInput("mask", DataType.INT64, shape("batch", 6));
        net.extra(Node.of("mask_cast", "Cast", List.of("mask"), List.of("mask_f"), Attribute.ofLong("to", 1)));
        net.node(Node.of("apply_mask", "Mul", List.of("x", "mask_f"), List.of("masked")));
        return net.gemm("fc1", 6, 8, true, true).op("r1", "Relu").gemm("fc2", 8, CLASSES, true, true).build();
    }

    /** Features {@code x} [N, 6] where the bool {@code pad} [N, 6] is false, else 0 (Not, Where), then two levels. */
    public static Model padded() {
        Net net = new Net("x", shape("batch", 6)).addInput("pad", DataType.BOOL, shape("batch", 6));
        net.extra(Node.of("keep", "Not", List.of("pad"), List.of("kept")));
        net.initializer(Tensor.ofFloats("zero", new long[0], new float[] {0}));
        net.node(Node.of("select", "Where", List.of("kept", "x", "zero"), List.of("selected")));
        return net.gemm("fc1", 6, 8, true, true).op("r1", "Relu").gemm("fc2", 8, CLASSES, true, true).build();
    }

    /** Int64 token ids {@code ids} [N, 4] looked up in an embedding table [10, 3], flattened, then two levels. */
    public static Model embedded() {
        Net net = new Net("ids", DataType.INT64, shape("batch", 4));
        net.init("embedding", new long[] {TOKENS, 3});
        net.node(Node.of("lookup", "Gather", List.of("embedding", "ids"), List.of("embedded")));
        return net.op("flat", "Flatten").gemm("fc1", 12, 8, true, true).op("r1", "Relu")
                .gemm("fc2", 8, CLASSES, true, true).build();
    }

    /** {@code n} samples of 4 token ids in [0, {@link #TOKENS}) as a {@code .npy} file. */
    public static Path tokens(Path file, int n, long seed) {
        Random random = new Random(seed);
        long[] ids = new long[n * 4];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = random.nextInt(TOKENS);
        }
        return Npy.write(file, Npy.longs(new long[] {n, 4}, ids));
    }

    /** Gaussian float32 samples of {@code [n, width]} as {@code .npy} bytes. */
    public static byte[] floats(Random random, int n, int width) {
        return Npy.floats(new long[] {n, width}, TestNets.randoms(random, (long) n * width));
    }

    /** Random 0/1 int64 samples of {@code [n, width]} as {@code .npy} bytes. */
    public static byte[] mask(Random random, int n, int width) {
        long[] v = new long[n * width];
        for (int i = 0; i < v.length; i++) {
            v[i] = random.nextInt(2);
        }
        return Npy.longs(new long[] {n, width}, v);
    }

    /** Data for {@link #padded()}: {@code x} and a random bool {@code pad}, {@code n} samples. */
    public static Path paddedData(Path file, int n, long seed) {
        long[] shape = {n, 6};
        return withFeatures(file, n, seed, "pad", random -> Npy.npy("|b1", false, shape,
                Npy.data("|b1", false, shape, idx -> random.nextInt(2))));
    }

    /** Data for {@link #twoBranches()}: {@code x} and {@code side}, {@code n} samples. */
    public static Path twoBranchesData(Path file, int n, long seed) {
        return withFeatures(file, n, seed, "side", random -> floats(random, n, 3));
    }

    /** Data for {@link #masked()}: {@code x} and {@code mask}, {@code n} samples. */
    public static Path maskedData(Path file, int n, long seed) {
        return withFeatures(file, n, seed, "mask", random -> mask(random, n, 6));
    }

    /** An archive of features {@code x} [n, 6] and the array {@code other} draws, from one seeded generator. */
    private static Path withFeatures(Path file, int n, long seed, String name, Function<Random, byte[]> other) {
        Random random = new Random(seed);
        Map<String, byte[]> arrays = new LinkedHashMap<>();
        arrays.put("x", floats(random, n, 6));
        arrays.put(name, other.apply(random));
        return Npz.write(file, arrays);
    }

    /** {@code n} labels in [0, {@link #CLASSES}) as a {@code .npy} file. */
    public static Path labels(Path file, int n, long seed) {
        Random random = new Random(seed);
        long[] y = new long[n];
        for (int i = 0; i < n; i++) {
            y[i] = random.nextInt(CLASSES);
        }
        return Npy.writeLongs(file, y);
    }
}
