package org.onnxfuse.fusion.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.onnxfuse.fusion.testing.Npy;
import org.onnxfuse.onnx.errors.ErrorCode;

class NpyArrayTest {
    private static final long[] SHAPE = {5, 3, 4};

    @TempDir
    Path dir;

    /** Test value at a row-major linear index, per descr (within range of every type). */
    static double value(String descr, long n) {
        return switch (descr.substring(1)) {
            case "f2", "f4", "f8" -> n * 0.5 - 3;
            case "u1" -> (n * 37) % 256;
            case "i1" -> (n * 37) % 256 - 128;
            case "b1" -> n % 3 == 0 ? 1 : 0;
            case "i2" -> n * 1000 - 30000;
            case "i4" -> n * 1_000_003 - 2_000_000_000L;
            default -> throw new IllegalArgumentException(descr);
        };
    }

    /** int64 values that need all 64 bits, so decoding must not go through double. */
    static long int64(long n) {
        return n * 3_000_000_007L - (1L << 62) + 1;
    }

    private static long linear(long[] idx, long[] shape) {
        long n = 0;
        for (int j = 0; j < shape.length; j++) {
            n = n * shape[j] + idx[j];
        }
        return n;
    }

    private Path write(String descr, boolean fortran, long[] shape) throws IOException {
        byte[] data = descr.endsWith("i8")
                ? Npy.data(descr, fortran, shape, idx -> int64(linear(idx, shape)))
                : Npy.data(descr, fortran, shape, idx -> value(descr, linear(idx, shape)));
        String name = descr.replaceAll("[<>|]", "_") + (fortran ? "_f" : "_c") + ".npy";
        return Npy.write(dir.resolve(name), Npy.npy(descr, fortran, shape, data));
    }

    private static float expectedFloat(String descr, long n) {
        return descr.endsWith("i8") ? (float) int64(n) : (float) value(descr, n);
    }

    @ParameterizedTest
    @ValueSource(strings = {"<f2", "<f4", "<f8", "|u1", "|i1", "<i2", "<i4", "<i8", "|b1",
        ">f2", ">f4", ">f8", ">i4", ">i8"})
    void everyDtypeInBothOrdersDecodesRowMajor(String descr) throws IOException {
        for (boolean fortran : new boolean[] {false, true}) {
            try (NpyArray a = NpyArray.open(write(descr, fortran, SHAPE))) {
                assertEquals(fortran, a.header().fortranOrder());
                assertEquals(descr.charAt(0) == '>' ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN,
                        a.header().byteOrder());
                assertEquals(5, a.samples());
                assertArrayEquals(new long[] {3, 4}, a.sampleShape());
                float[] all = a.readFloats(0, 5);
                for (int n = 0; n < 60; n++) {
                    assertEquals(expectedFloat(descr, n), all[n], descr + " fortran=" + fortran + " n=" + n);
                }
                // a middle range
                float[] mid = a.readFloats(2, 2);
                for (int n = 0; n < 24; n++) {
                    assertEquals(expectedFloat(descr, 24 + n), mid[n]);
                }
                if (a.header().dtype().isInteger()) {
                    long[] longs = a.readLongs(1, 3);
                    for (int n = 0; n < 36; n++) {
                        long want = descr.endsWith("i8") ? int64(12 + n) : (long) value(descr, 12 + n);
                        assertEquals(want, longs[n], descr + " n=" + n);
                    }
                }
            }
        }
    }

    @Test
    void batchesCoverANonMultipleBatchSize() throws IOException {
        for (boolean fortran : new boolean[] {false, true}) {
            try (NpyArray a = NpyArray.open(write("<f4", fortran, SHAPE))) {
                List<FloatBatch> batches = new ArrayList<>();
                a.batches(2).forEach(batches::add);
                assertEquals(3, batches.size());
                long[] counts = batches.stream().mapToLong(FloatBatch::count).toArray();
                assertArrayEquals(new long[] {2, 2, 1}, counts);
                assertArrayEquals(new long[] {1, 3, 4}, batches.get(2).shape());
                assertEquals(4, batches.get(2).firstSample());
                int n = 0;
                for (FloatBatch b : batches) {
                    for (float v : b.values()) {
                        assertEquals(expectedFloat("<f4", n++), v);
                    }
                }
                assertEquals(60, n);
                // iterating again starts over
                assertEquals(0, a.batches(7).iterator().next().firstSample());
                assertEquals(5, a.batches(7).iterator().next().count());
            }
        }
    }

    @Test
    void labelsReadExactly() throws IOException {
        long[] shape = {7};
        for (String descr : new String[] {"<i8", "<i4", "|u1"}) {
            try (NpyArray a = NpyArray.open(write(descr, false, shape))) {
                long[] labels = a.readLongs(0, 7);
                for (int n = 0; n < 7; n++) {
                    assertEquals(descr.endsWith("i8") ? int64(n) : (long) value(descr, n), labels[n]);
                }
                assertArrayEquals(new long[0], a.sampleShape());
            }
        }
    }

    @Test
    void floatLabelsAreRejected() throws IOException {
        try (NpyArray a = NpyArray.open(write("<f4", false, new long[] {4}))) {
            Checks.fails(ErrorCode.DATA_DTYPE, () -> a.readLongs(0, 4),
                    "integer labels expected", "'<f4'", "int64 (<i8)", "astype(np.int64)");
        }
    }

    @Test
    void fortranOrderWithOneSampleAndOneColumn() throws IOException {
        long[] shape = {1, 2, 3};
        try (NpyArray a = NpyArray.open(write("<f8", true, shape))) {
            float[] v = a.readFloats(0, 1);
            for (int n = 0; n < 6; n++) {
                assertEquals(expectedFloat("<f8", n), v[n]);
            }
        }
        long[] column = {4, 1};
        try (NpyArray a = NpyArray.open(write("<i8", true, column))) {
            long[] v = a.readLongs(1, 3);
            assertArrayEquals(new long[] {int64(1), int64(2), int64(3)}, v);
        }
    }

    @Test
    void zeroDimensionalAndEmptyArrays() throws IOException {
        Path scalar = Npy.write(dir.resolve("scalar.npy"),
                Npy.npy("<f8", false, new long[0], Npy.data("<f8", false, new long[0], i -> 2.5)));
        try (NpyArray a = NpyArray.open(scalar)) {
            assertEquals(1, a.samples());
            assertArrayEquals(new float[] {2.5f}, a.readFloats(0, 1));
            assertArrayEquals(new long[] {1}, a.batch(0, 1).shape());
        }
        Path empty = Npy.write(dir.resolve("empty.npy"),
                Npy.npy("<f4", false, new long[] {0, 3}, new byte[0]));
        try (NpyArray a = NpyArray.open(empty)) {
            assertEquals(0, a.samples());
            assertFalse(a.batches(4).iterator().hasNext());
            assertEquals(0, a.readFloats(0, 0).length);
        }
    }

    /** Found by review of the fuzz target's reads: a 128-byte file made an empty read allocate 8 GB. */
    @Test
    void emptyFortranArrayOfHugeSamplesReadsWithoutAllocatingThem() throws IOException {
        Path empty = Npy.write(dir.resolve("empty_fortran.npy"),
                Npy.npy("<i4", true, new long[] {0, 2_000_000_000L}, new byte[0]));
        try (NpyArray a = NpyArray.open(empty)) {
            assertEquals(0, a.samples());
            assertEquals(0, a.readFloats(0, 0).length);
            assertEquals(0, a.readLongs(0, 0).length);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3})
    void headerVersions(int major) throws IOException {
        long[] shape = {2, 3};
        byte[] data = Npy.data("<f4", false, shape, idx -> value("<f4", linear(idx, shape)));
        Path p = Npy.write(dir.resolve("v" + major + ".npy"), Npy.npy(major, "<f4", false, shape, data));
        try (NpyArray a = NpyArray.open(p)) {
            assertEquals(0, a.header().dataOffset() % 64);
            assertArrayEquals(new float[] {-3, -2.5f, -2, -1.5f, -1, -0.5f}, a.readFloats(0, 2));
        }
    }

    @Test
    void truncatedDataIsRejectedAtOpen() throws IOException {
        long[] shape = {1000, 784};
        byte[] header = Npy.header(Npy.dict("<f4", false, shape), 1);
        Path p = Npy.write(dir.resolve("short.npy"), Npy.concat(header, new byte[1000]));
        Checks.fails(ErrorCode.DATA_FORMAT, () -> NpyArray.open(p),
                "short.npy", "truncated", "3136000 bytes", "1000 bytes");
        // one byte short
        long[] small = {2, 3};
        byte[] data = Npy.data("<f8", false, small, idx -> 1);
        Path q = Npy.write(dir.resolve("one_short.npy"),
                Npy.concat(Npy.header(Npy.dict("<f8", false, small), 1),
                        java.util.Arrays.copyOf(data, data.length - 1)));
        Checks.fails(ErrorCode.DATA_FORMAT, () -> NpyArray.open(q), "48 bytes", "47 bytes");
    }

    @Test
    void trailingBytesAfterTheDataAreRejectedAtOpen() throws IOException {
        long[] shape = {2, 3};
        byte[] data = Npy.data("<f8", false, shape, idx -> 1);
        Path p = Npy.write(dir.resolve("long.npy"),
                Npy.concat(Npy.header(Npy.dict("<f8", false, shape), 1), data, new byte[5]));
        Checks.fails(ErrorCode.DATA_FORMAT, () -> NpyArray.open(p), "long.npy", "trailing data", "48 bytes",
                "the file holds 53 bytes");
    }

    @Test
    void truncatedHeaderIsRejected() throws IOException {
        byte[] full = Npy.header(Npy.dict("<f4", false, 2, 3), 1);
        Path p = Npy.write(dir.resolve("cut.npy"), java.util.Arrays.copyOf(full, 40));
        Checks.fails(ErrorCode.DATA_FORMAT, () -> NpyArray.open(p), "truncated", "header of 118 bytes");
        Path q = Npy.write(dir.resolve("tiny.npy"), java.util.Arrays.copyOf(full, 8));
        Checks.fails(ErrorCode.DATA_FORMAT, () -> NpyArray.open(q), "truncated", "8 bytes");
    }

    @Test
    void badMagic() throws IOException {
        Path p = Npy.write(dir.resolve("text.npy"), "hello world, not numpy".getBytes());
        Checks.fails(ErrorCode.DATA_FORMAT, () -> NpyArray.open(p),
                "text.npy", "not a .npy file", "\\x93NUMPY", "68 65 6c 6c 6f 20");
        Path zip = Npy.write(dir.resolve("archive.npy"), new ZipWriter(false).add("x.npy",
                Npy.npy("<f4", false, new long[] {1}, new byte[4]), false).finish());
        Checks.fails(ErrorCode.DATA_FORMAT, () -> NpyArray.open(zip), "zip (.npz)");
        Path empty = Npy.write(dir.resolve("empty.npy"), new byte[0]);
        Checks.fails(ErrorCode.DATA_FORMAT, () -> NpyArray.open(empty), "an empty file");
    }

    @Test
    void unsupportedVersion() throws IOException {
        byte[] h = Npy.header(Npy.dict("<f4", false, 1), 1);
        h[6] = 4;
        Path p = Npy.write(dir.resolve("v4.npy"), Npy.concat(h, new byte[4]));
        Checks.fails(ErrorCode.DATA_FORMAT, () -> NpyArray.open(p), "version 4.0", "1.0, 2.0, 3.0");
    }

    @Test
    void badHeaders() throws IOException {
        String[][] cases = {
            {"{'descr': '<f4', 'fortran_order': False}", "expected keys"},
            {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", "expected keys"},
            {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", "'fortran_order' must be True or False"},
            {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", "non-negative"},
            {"{'descr': '<f4', 'fortran_order': False, 'shape': 'x', }", "'shape' must be a tuple"},
            {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", "unexpected end"},
            {"['descr', '<f4']", "expected a dict"},
            {"{'descr': 4, 'fortran_order': False, 'shape': (2,), }", "'descr' must be a string"},
            {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } junk", "unexpected text"},
            {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999), }",
                "too large"},
        };
        for (String[] c : cases) {
            Path p = Npy.write(dir.resolve("bad.npy"),
                    Npy.concat(Npy.header(c[0], 1), new byte[64]));
            Checks.fails(ErrorCode.DATA_FORMAT, () -> NpyArray.open(p), "bad .npy header", c[1]);
        }
    }

    @Test
    void deeplyNestedHeadersAreRejectedWithoutRecursingAway() throws IOException {
        String deep = "(".repeat(5000) + ")".repeat(5000);
        String[] headers = {
            "{'descr': '<f4', 'fortran_order': False, 'shape': " + deep + ", }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': " + "(".repeat(5000) + ", }",
            "[".repeat(20) + "]".repeat(20),
        };
        for (String h : headers) {
            Path p = Npy.write(dir.resolve("deep.npy"), Npy.concat(Npy.header(h, 1), new byte[64]));
            Checks.fails(ErrorCode.DATA_FORMAT, () -> NpyArray.open(p), "bad .npy header", "nested more than 16 deep");
        }
        // numpy's own deepest form, a structured dtype's list of tuples, still parses (and is refused as a dtype)
        Path p = Npy.write(dir.resolve("rec.npy"), Npy.concat(Npy.header(
                "{'descr': [('a', '<f4'), ('b', [('c', '<i8')])], 'fortran_order': False, 'shape': (2,), }", 1),
                new byte[64]));
        Checks.fails(ErrorCode.DATA_DTYPE, () -> NpyArray.open(p), "structured");
    }

    @Test
    void python2LongsAndDoubleQuotesAreAccepted() throws IOException {
        Path p = Npy.write(dir.resolve("py2.npy"), Npy.concat(Npy.header(
                "{\"descr\": \"<i8\", \"fortran_order\": False, \"shape\": (2L,)}", 1),
                Npy.data("<i8", false, new long[] {2}, idx -> idx[0] + 40)));
        try (NpyArray a = NpyArray.open(p)) {
            assertArrayEquals(new long[] {40, 41}, a.readLongs(0, 2));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"<c8", "<U3", "|O", "|S5", "<M8[ns]", "<u4", "<f16"})
    void unsupportedDtypes(String descr) throws IOException {
        Path p = Npy.write(dir.resolve("odd.npy"),
                Npy.concat(Npy.header(Npy.dict(descr, false, 2), 1), new byte[64]));
        Checks.fails(ErrorCode.DATA_DTYPE, () -> NpyArray.open(p),
                "odd.npy", "unsupported dtype '" + descr + "'", "float32 (<f4)", "int64 (<i8)");
    }

    @Test
    void structuredDtype() throws IOException {
        Path p = Npy.write(dir.resolve("rec.npy"), Npy.concat(Npy.header(
                "{'descr': [('a', '<f4'), ('b', '<i8')], 'fortran_order': False, 'shape': (2,), }", 1),
                new byte[24]));
        Checks.fails(ErrorCode.DATA_DTYPE, () -> NpyArray.open(p), "structured", "('a', '<f4')");
    }

    @Test
    void missingFileAndDirectory() {
        Checks.fails(ErrorCode.FILE_NOT_FOUND, () -> NpyArray.open(dir.resolve("nope.npy")), "nope.npy");
        Checks.fails(ErrorCode.IS_DIRECTORY, () -> NpyArray.open(dir), "is a directory");
    }

    @Test
    void rangeChecksAndClose() throws IOException {
        NpyArray a = NpyArray.open(write("<f4", false, SHAPE));
        assertThrows(IndexOutOfBoundsException.class, () -> a.readFloats(4, 2));
        assertThrows(IndexOutOfBoundsException.class, () -> a.readFloats(-1, 1));
        assertThrows(IllegalArgumentException.class, () -> a.batches(0));
        a.close();
        a.close();
        assertThrows(IllegalStateException.class, () -> a.readFloats(0, 1));
    }

    /**
     * A few-MB file read in chunks of up to 1 MiB, with an odd header so data, chunks and pages
     * do not line up: every batch must match, including rows that straddle a chunk border, both
     * as fresh arrays and decoded into one reused array.
     */
    @Test
    void multiMegabyteFileAcrossReadChunks() throws IOException {
        long[] shape = {3001, 257};  // 3.1 MB of float32, 6.2 MB of float64
        for (String descr : new String[] {"<f4", "<f8", "<f2"}) {
            for (boolean fortran : new boolean[] {false, true}) {
                byte[] data = Npy.data(descr, fortran, shape,
                        idx -> descr.equals("<f2") ? (idx[0] * 7 + idx[1]) % 2048 : idx[0] * 1000.0 + idx[1]);
                // a header of 131 bytes, so the data starts at an odd offset
                byte[] odd = Npy.concat(
                        Npy.header(Npy.dict(descr, fortran, shape), 1, 131), data);
                Path p = Npy.write(dir.resolve("big.npy"), odd);
                for (int window : new int[] {1 << 20, 65536 + 8, WindowedSource.DEFAULT_WINDOW_BYTES}) {
                  for (boolean reuse : new boolean[] {false, true}) {
                    try (NpyArray a = NpyArray.open(p, window)) {
                        assertEquals(131, a.header().dataOffset());
                        long row = 0;
                        float[] first = null;
                        for (FloatBatch b : reuse ? a.reusedBatches(640) : a.batches(640)) {
                            if (b.count() == 640) {
                                if (first == null) {
                                    first = b.values();
                                } else {
                                    assertEquals(reuse, first == b.values(), "reused array");
                                }
                            }
                            float[] v = b.values();
                            for (int s = 0; s < b.count(); s++, row++) {
                                for (int c = 0; c < 257; c++) {
                                    float want = descr.equals("<f2") ? (row * 7 + c) % 2048 : row * 1000f + c;
                                    if (v[s * 257 + c] != want) {
                                        assertEquals(want, v[s * 257 + c], descr + " fortran=" + fortran
                                                + " window=" + window + " row " + row + " col " + c);
                                    }
                                }
                            }
                        }
                        assertEquals(3001, row);
                    }
                  }
                }
            }
        }
    }

    /** Windows of one or two float64 elements: every run crosses window borders. */
    @Test
    void tinyWindows() throws IOException {
        for (String descr : new String[] {"<f2", "<f4", "<f8", "|u1"}) {
            for (boolean fortran : new boolean[] {false, true}) {
                Path p = write(descr, fortran, SHAPE);
                for (int window : new int[] {8, 16, 24}) {
                    try (NpyArray a = NpyArray.open(p, window)) {
                        float[] v = a.readFloats(1, 4);
                        for (int n = 0; n < 48; n++) {
                            assertEquals(expectedFloat(descr, 12 + n), v[n], descr + " " + window);
                        }
                    }
                }
            }
        }
    }

    /**
     * A sparse file of 2.3 GB (no disk used for the holes): offsets past 2^31 inside one mapping
     * window and across windows, C and Fortran order, read through the default windows.
     */
    @Test
    void sparseFileLargerThanTwoGigabytes() throws IOException {
        long samples = 9_000_000;
        int width = 64;
        long[] shape = {samples, width};
        // row 8_388_608 starts at data byte 2^31 in C order
        long[][] marks = {{0, 0}, {8_388_607, 63}, {8_388_608, 0}, {8_388_608, 5}, {8_999_999, 63},
            {4_000_000, 32}};
        for (boolean fortran : new boolean[] {false, true}) {
            Path p = dir.resolve("sparse.npy");
            byte[] header = Npy.header(Npy.dict("<f4", fortran, shape), 1);
            try (FileChannel ch = FileChannel.open(p, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.SPARSE)) {
                ch.write(ByteBuffer.wrap(header), 0);
                for (int k = 0; k < marks.length; k++) {
                    long element = fortran ? marks[k][1] * samples + marks[k][0] : marks[k][0] * width + marks[k][1];
                    ByteBuffer v = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(k + 1).flip();
                    ch.write(v, header.length + element * 4);
                }
                long size = header.length + samples * width * 4;
                if (ch.size() < size) {
                    ch.write(ByteBuffer.allocate(1), size - 1);
                }
            }
            assertTrue(Files.size(p) > (1L << 31));
            try (NpyArray a = NpyArray.open(p)) {
                for (int k = 0; k < marks.length; k++) {
                    long first = Math.max(0, marks[k][0] - 1);
                    int count = (int) Math.min(3, samples - first);
                    float[] expected = new float[count * width];
                    for (int j = 0; j < marks.length; j++) {
                        if (marks[j][0] >= first && marks[j][0] < first + count) {
                            expected[(int) (marks[j][0] - first) * width + (int) marks[j][1]] = j + 1;
                        }
                    }
                    assertArrayEquals(expected, a.readFloats(first, count), "fortran=" + fortran + " mark " + k);
                }
            }
            Files.delete(p);
        }
    }

    @Test
    void windowSizeMustBeAMultipleOfEight() throws IOException {
        Path p = write("<f4", false, SHAPE);
        assertThrows(IllegalArgumentException.class, () -> NpyArray.open(p, 12));
        assertTrue(Files.exists(p));
    }
}
