package org.onnxfuse.fusion.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.testing.Npy;
import org.onnxfuse.onnx.errors.ErrorCode;

/**
 * Files written by numpy itself (src/test/resources/npy/make_npy_fixtures.py, numpy 1.24);
 * the expected values repeat the script's formulas.
 */
class NumpyFixturesTest {
    @TempDir
    Path dir;

    static Path fixture(String name) {
        try {
            return Path.of(NumpyFixturesTest.class.getResource("/npy/" + name).toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new AssertionError("missing fixture " + name, e);
        }
    }

    @Test
    void float32COrder() {
        try (NpyArray a = NpyArray.open(fixture("f32_c.npy"))) {
            assertEquals(DType.FLOAT32, a.header().dtype());
            assertEquals("<f4", a.header().descr());
            assertArrayEquals(new long[] {3, 4}, a.header().shape());
            assertEquals(128, a.header().dataOffset());
            float[] v = a.readFloats(0, 3);
            for (int n = 0; n < 12; n++) {
                assertEquals(0.5f * n - 1, v[n]);
            }
        }
    }

    @Test
    void headerVersions2And3() {
        for (String name : List.of("f32_v2.npy", "f32_v3.npy")) {
            try (NpyArray a = NpyArray.open(fixture(name))) {
                assertEquals(0, a.header().dataOffset() % 64, name);
                float[] v = a.readFloats(1, 2);
                for (int n = 0; n < 8; n++) {
                    assertEquals(0.5f * (n + 4) - 1, v[n], name);
                }
            }
        }
    }

    @Test
    void float64Fortran3d() {
        try (NpyArray a = NpyArray.open(fixture("f64_fortran.npy"))) {
            assertTrue(a.header().fortranOrder());
            assertArrayEquals(new long[] {3, 4}, a.sampleShape());
            float[] all = a.readFloats(0, 2);
            for (int n = 0; n < 24; n++) {
                assertEquals(1.25f * n, all[n]);
            }
            float[] second = a.readFloats(1, 1);
            assertArrayEquals(Arrays.copyOfRange(all, 12, 24), second);
        }
    }

    @Test
    void float16Specials() {
        float[] expected = {0f, -0f, 1f, -2.5f, 65504f, 0x1p-14f, 0x1p-24f, 3 * 0x1p-24f,
            1023 * 0x1p-24f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN};
        try (NpyArray a = NpyArray.open(fixture("f16_special.npy"))) {
            assertEquals(DType.FLOAT16, a.header().dtype());
            float[] v = a.readFloats(0, 3);
            for (int n = 0; n < 12; n++) {
                // assertEquals(float, float) treats NaN as equal and -0 as distinct from 0
                assertEquals(expected[n], v[n], "element " + n);
            }
            assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(v[1]));
            Checks.fails(ErrorCode.DATA_NOT_FINITE, () -> Finite.check(a.source(), a.batch(0, 3)),
                    "f16_special.npy", "sample 2, element 1 is +Inf");
        }
    }

    @Test
    void uint8() {
        try (NpyArray a = NpyArray.open(fixture("u8.npy"))) {
            assertEquals("|u1", a.header().descr());
            float[] f = a.readFloats(0, 2);
            long[] l = a.readLongs(0, 2);
            for (int n = 0; n < 12; n++) {
                assertEquals((37 * n) % 256, f[n]);
                assertEquals((37 * n) % 256, l[n]);
            }
        }
    }

    @Test
    void integerLabels() {
        try (NpyArray a = NpyArray.open(fixture("labels_i64.npy"))) {
            assertArrayEquals(new long[] {0, 1, 2, 9, -1, (1L << 40) + 3, 7}, a.readLongs(0, 7));
            assertArrayEquals(new long[] {9, -1}, a.readLongs(3, 2));
            DataShapes.checkLabels(a.source(), a.header().shape(), 7);
        }
        try (NpyArray a = NpyArray.open(fixture("labels_i32.npy"))) {
            assertEquals(DType.INT32, a.header().dtype());
            assertArrayEquals(new long[] {3, 1, 4, 1, 5}, a.readLongs(0, 5));
        }
    }

    @Test
    void bigEndianFortran() {
        try (NpyArray a = NpyArray.open(fixture("f64_big_endian.npy"))) {
            assertEquals(ByteOrder.BIG_ENDIAN, a.header().byteOrder());
            assertEquals(">f8", a.header().descr());
            assertArrayEquals(new float[] {0, -0.25f, 1, 0.75f, 2, 1.75f}, a.readFloats(0, 3));
        }
    }

    @Test
    void npzStoredAndCompressed() {
        for (String name : List.of("stored.npz", "compressed.npz")) {
            for (long limit : new long[] {NpzArchive.DEFAULT_IN_MEMORY_LIMIT, 0}) {
                try (NpzArchive npz = NpzArchive.open(fixture(name), limit, WindowedSource.DEFAULT_WINDOW_BYTES)) {
                    assertEquals(List.of("x", "y", "z"), npz.names());
                    float[] x = npz.array("x").readFloats(0, 4);
                    for (int n = 0; n < 12; n++) {
                        assertEquals(n / 8f, x[n], name);
                    }
                    assertArrayEquals(new long[] {1, 0, 3, 2}, npz.array("y").readLongs(0, 4));
                    NpyArray z = npz.array("z");
                    assertTrue(z.header().fortranOrder());
                    int n = 0;
                    for (FloatBatch b : z.batches(3)) {
                        for (float v : b.values()) {
                            assertEquals(n++ - 10f, v, name);
                        }
                    }
                    assertEquals(24, n);
                }
            }
        }
    }

    @Test
    void unsupportedNumpyDtypes() {
        Checks.fails(ErrorCode.DATA_DTYPE, () -> NpyArray.open(fixture("complex64.npy")),
                "'<c8'", "complex", "float32 (<f4)");
        Checks.fails(ErrorCode.DATA_DTYPE, () -> NpyArray.open(fixture("unicode.npy")), "'<U3'", "strings");
        Checks.fails(ErrorCode.DATA_DTYPE, () -> NpyArray.open(fixture("object.npy")), "'|O'", "object");
        Checks.fails(ErrorCode.DATA_DTYPE, () -> NpyArray.open(fixture("structured.npy")), "structured");
    }

    @Test
    void truncatedNumpyFile() throws IOException {
        byte[] bytes = Files.readAllBytes(fixture("f32_c.npy"));
        Path p = Npy.write(dir.resolve("f32_cut.npy"), Arrays.copyOf(bytes, bytes.length - 4));
        Checks.fails(ErrorCode.DATA_FORMAT, () -> NpyArray.open(p),
                "f32_cut.npy", "truncated", "48 bytes", "44 bytes");
    }

    /** The test writer lays headers out byte for byte as numpy does (apart from numpy 1.24's
     *  spare spaces for growing the first axis, which only move the padding). */
    @Test
    void testWriterMatchesNumpyLayout() throws IOException {
        byte[] numpy = Files.readAllBytes(fixture("f32_c.npy"));
        byte[] ours = Npy.npy("<f4", false, new long[] {3, 4},
                Npy.data("<f4", false, new long[] {3, 4}, idx -> 0.5 * (4 * idx[0] + idx[1]) - 1));
        assertEquals(numpy.length, ours.length);
        String numpyDict = new String(numpy, 10, 118, java.nio.charset.StandardCharsets.ISO_8859_1);
        String ourDict = new String(ours, 10, 118, java.nio.charset.StandardCharsets.ISO_8859_1);
        assertEquals(numpyDict.replaceAll(" +", " "), ourDict.replaceAll(" +", " "));
        assertArrayEquals(Arrays.copyOfRange(numpy, 0, 10), Arrays.copyOfRange(ours, 0, 10));
        assertArrayEquals(Arrays.copyOfRange(numpy, 128, numpy.length), Arrays.copyOfRange(ours, 128, ours.length));
    }
}
