package org.onnxfuse.fusion.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.onnxfuse.fusion.testing.Npy;
import org.onnxfuse.onnx.errors.ErrorCode;

class NpzArchiveTest {
    private static final long[] X_SHAPE = {4, 3};
    private static final long[] Y_SHAPE = {4};
    private static final long[] Z_SHAPE = {4, 2, 3};

    @TempDir
    Path dir;

    private static long linear(long[] idx, long[] shape) {
        long n = 0;
        for (int j = 0; j < shape.length; j++) {
            n = n * shape[j] + idx[j];
        }
        return n;
    }

    static byte[] x() {
        return Npy.npy("<f4", false, X_SHAPE,
                Npy.data("<f4", false, X_SHAPE, idx -> linear(idx, X_SHAPE) / 8.0));
    }

    static byte[] y() {
        return Npy.npy("<i8", false, Y_SHAPE, Npy.data("<i8", false, Y_SHAPE, idx -> 3 - idx[0]));
    }

    static byte[] z() {
        return Npy.npy("<f8", true, Z_SHAPE,
                Npy.data("<f8", true, Z_SHAPE, idx -> linear(idx, Z_SHAPE) - 10));
    }

    private Path archive(String name, boolean deflate, boolean zip64) throws IOException {
        byte[] zip = new ZipWriter(zip64).add("x.npy", x(), deflate).add("y.npy", y(), deflate)
                .add("z.npy", z(), deflate).finish();
        return Npy.write(dir.resolve(name), zip);
    }

    static void checkContents(NpzArchive npz) {
        assertEquals(List.of("x", "y", "z"), npz.names());
        NpyArray x = npz.array("x");
        assertEquals(npz.path() + ":x", x.source());
        assertArrayEquals(X_SHAPE, x.header().shape());
        float[] xv = x.readFloats(0, 4);
        for (int n = 0; n < 12; n++) {
            assertEquals(n / 8f, xv[n]);
        }
        assertArrayEquals(new long[] {3, 2, 1, 0}, npz.array("y").readLongs(0, 4));
        NpyArray z = npz.array("z");
        assertTrue(z.header().fortranOrder());
        float[] zv = z.readFloats(1, 3);
        for (int n = 0; n < 18; n++) {
            assertEquals(n + 6 - 10f, zv[n], "z n=" + n);
        }
        // backwards after forwards
        float[] first = z.readFloats(0, 1);
        for (int n = 0; n < 6; n++) {
            assertEquals(n - 10f, first[n]);
        }
    }

    @ParameterizedTest
    @CsvSource({"false, false", "true, false", "false, true", "true, true"})
    void storedAndDeflatedWithAndWithoutZip64(boolean deflate, boolean zip64) throws IOException {
        Path p = archive("a.npz", deflate, zip64);
        try (NpzArchive npz = NpzArchive.open(p)) {
            checkContents(npz);
        }
        // streamed instead of inflated into memory; mapped through 8-byte windows
        try (NpzArchive npz = NpzArchive.open(p, 0, 8)) {
            checkContents(npz);
        }
    }

    @Test
    void javaZipOutputStreamWithDataDescriptors() throws IOException {
        Path p = dir.resolve("j.npz");
        try (OutputStream f = Files.newOutputStream(p); ZipOutputStream zip = new ZipOutputStream(f)) {
            zip.putNextEntry(new ZipEntry("x.npy"));  // deflated, sizes after the data
            zip.write(x());
            zip.closeEntry();
            byte[] y = y();
            ZipEntry stored = new ZipEntry("y.npy");
            stored.setMethod(ZipEntry.STORED);
            stored.setSize(y.length);
            CRC32 crc = new CRC32();
            crc.update(y);
            stored.setCrc(crc.getValue());
            zip.putNextEntry(stored);
            zip.write(y);
            zip.closeEntry();
            zip.putNextEntry(new ZipEntry("sub/"));
            zip.closeEntry();
            zip.putNextEntry(new ZipEntry("z.npy"));
            zip.write(z());
            zip.closeEntry();
        }
        try (NpzArchive npz = NpzArchive.open(p)) {
            checkContents(npz);
        }
    }

    /** Compressed entries larger than the in-memory limit are inflated batch by batch. */
    @Test
    void largeCompressedEntryIsStreamedInBatches() throws IOException {
        long[] shape = {1000, 150};  // 600 kB of float32, several 64 kB chunks
        for (boolean fortran : new boolean[] {false, true}) {
            byte[] npy = Npy.npy("<f4", fortran, shape,
                    Npy.data("<f4", fortran, shape, idx -> idx[0] * 1000.0 + idx[1]));
            Path p = Npy.write(dir.resolve("big.npz"),
                    new ZipWriter(false).add("data.npy", npy, true).finish());
            try (NpzArchive npz = NpzArchive.open(p, 100_000, WindowedSource.DEFAULT_WINDOW_BYTES)) {
                NpyArray a = npz.array("data");
                long row = 0;
                for (FloatBatch b : a.batches(333)) {
                    for (int s = 0; s < b.count(); s++, row++) {
                        for (int c = 0; c < 150; c++) {
                            assertEquals(row * 1000f + c, b.values()[s * 150 + c]);
                        }
                    }
                }
                assertEquals(1000, row);
                assertEquals(7000f, a.readFloats(7, 1)[0]);
                assertEquals(999_149f, a.readFloats(999, 1)[149]);
            }
        }
    }

    @Test
    void nonNpyEntryNamesAreKeptWhole() throws IOException {
        Path p = Npy.write(dir.resolve("n.npz"),
                new ZipWriter(false).add("input.1.npy", x(), false).add("raw", y(), true).finish());
        try (NpzArchive npz = NpzArchive.open(p)) {
            assertEquals(List.of("input.1", "raw"), npz.names());
            assertTrue(npz.contains("raw"));
            assertEquals(4, npz.array("raw").samples());
        }
    }

    @Test
    void missingKeyListsTheKeysPresent() throws IOException {
        try (NpzArchive npz = NpzArchive.open(archive("a.npz", false, false))) {
            Checks.fails(ErrorCode.DATA_FORMAT, () -> npz.array("input"),
                    "a.npz", "no array 'input'", "found ['x', 'y', 'z']");
        }
    }

    @Test
    void notAZip() throws IOException {
        Path text = Npy.write(dir.resolve("t.npz"), "just some text, long enough".getBytes());
        Checks.fails(ErrorCode.DATA_FORMAT, () -> NpzArchive.open(text), "t.npz", "not a .npz file");
        Path npy = Npy.write(dir.resolve("n.npz"), x());
        Checks.fails(ErrorCode.DATA_FORMAT, () -> NpzArchive.open(npy), "a .npy file");
        Path empty = Npy.write(dir.resolve("e.npz"), new byte[0]);
        Checks.fails(ErrorCode.DATA_FORMAT, () -> NpzArchive.open(empty), "empty file");
        Checks.fails(ErrorCode.FILE_NOT_FOUND, () -> NpzArchive.open(dir.resolve("none.npz")));
        Checks.fails(ErrorCode.IS_DIRECTORY, () -> NpzArchive.open(dir));
    }

    @Test
    void crcMismatchIsReported() throws IOException {
        byte[] zip = new ZipWriter(false).add("x.npy", x(), true).finish();
        int central = indexOf(zip, new byte[] {0x50, 0x4b, 0x01, 0x02});
        zip[central + 16] ^= 1;
        Path p = Npy.write(dir.resolve("crc.npz"), zip);
        try (NpzArchive npz = NpzArchive.open(p)) {
            Checks.fails(ErrorCode.DATA_FORMAT, () -> npz.array("x"), "crc.npz:x", "CRC-32 mismatch");
        }
    }

    @Test
    void truncatedCompressedEntry() throws IOException {
        byte[] big = Npy.npy("<f8", false, new long[] {500, 3},
                Npy.data("<f8", false, new long[] {500, 3}, idx -> Math.sin(idx[0] + 3 * idx[1])));
        Path p = Npy.write(dir.resolve("cut.npz"),
                new ZipWriter(false).add("x.npy", big, true, 3000).finish());
        try (NpzArchive npz = NpzArchive.open(p)) {
            Checks.fails(ErrorCode.DATA_FORMAT, () -> npz.array("x"), "cut.npz:x", "compressed data ends");
        }
        try (NpzArchive npz = NpzArchive.open(p, 0, 8)) {
            NpyArray a = npz.array("x");
            a.readFloats(0, 10);
            Checks.fails(ErrorCode.DATA_FORMAT, () -> a.readFloats(0, 500), "compressed data ends");
        }
    }

    /** Found reviewing NpzArchiveFuzzTest: 200 bytes made the reader allocate its whole in-memory limit. */
    @Test
    void sizesDeflateCannotReachAreRefusedBeforeAllocating() throws IOException {
        byte[] zeros = Npy.npy("<f4", false, new long[] {1 << 18}, new byte[1 << 20]);
        Path p = Npy.write(dir.resolve("bomb.npz"), new ZipWriter(false).add("x.npy", zeros, true, 20).finish());
        try (NpzArchive npz = NpzArchive.open(p)) {
            Checks.fails(ErrorCode.DATA_FORMAT, () -> npz.array("x"), "bomb.npz:x", "inflate from 20",
                    "1032:1");
        }
    }

    @Test
    void storedEntryShorterThanItsHeader() throws IOException {
        byte[] x = x();
        byte[] cut = java.util.Arrays.copyOf(x, x.length - 4);
        Path p = Npy.write(dir.resolve("short.npz"), new ZipWriter(false).add("x.npy", cut, false).finish());
        try (NpzArchive npz = NpzArchive.open(p)) {
            Checks.fails(ErrorCode.DATA_FORMAT, () -> npz.array("x"),
                    "short.npz:x", "truncated data", "48 bytes", "the entry holds 44 bytes");
        }
    }

    @Test
    void trailingDataInAnEntryIsRefusedFromTheHeaderWithoutInflatingIt() throws IOException {
        byte[] padded = Npy.concat(x(), new byte[64 << 20]);
        Path deflated = Npy.write(dir.resolve("padded.npz"), new ZipWriter(false).add("x.npy", padded, true).finish());
        try (NpzArchive npz = NpzArchive.open(deflated)) {
            Checks.fails(ErrorCode.DATA_FORMAT, () -> npz.array("x"), "padded.npz:x", "trailing data", "48 bytes",
                    "the entry holds " + ((64 << 20) + 48) + " bytes");
        }
        Path stored = Npy.write(dir.resolve("stored.npz"),
                new ZipWriter(false).add("x.npy", Npy.concat(x(), new byte[3]), false).finish());
        try (NpzArchive npz = NpzArchive.open(stored)) {
            Checks.fails(ErrorCode.DATA_FORMAT, () -> npz.array("x"), "trailing data", "the entry holds 51 bytes");
        }
    }

    @Test
    void unsupportedCompressionMethod() throws IOException {
        byte[] zip = new ZipWriter(false).add("x.npy", x(), false).finish();
        int central = indexOf(zip, new byte[] {0x50, 0x4b, 0x01, 0x02});
        zip[central + 10] = 12;
        zip[8] = 12;
        Path p = Npy.write(dir.resolve("bz.npz"), zip);
        try (NpzArchive npz = NpzArchive.open(p)) {
            Checks.fails(ErrorCode.DATA_FORMAT, () -> npz.array("x"), "compression method 12",
                    "0 (stored", "8 (deflate");
        }
    }

    @Test
    void unsupportedDtypeInsideAnArchive() throws IOException {
        byte[] c8 = Npy.concat(Npy.header(Npy.dict("<c8", false, 2), 1), new byte[16]);
        Path p = Npy.write(dir.resolve("c.npz"), new ZipWriter(false).add("c.npy", c8, true).finish());
        try (NpzArchive npz = NpzArchive.open(p)) {
            Checks.fails(ErrorCode.DATA_DTYPE, () -> npz.array("c"), "c.npz:c", "'<c8'", "complex");
        }
    }

    @Test
    void closingTheArchiveClosesItsArrays() throws IOException {
        NpzArchive npz = NpzArchive.open(archive("a.npz", true, false), 0, 8);
        NpyArray x = npz.array("x");
        NpyArray z = npz.array("z");
        z.close();
        npz.close();
        npz.close();
        assertThrows(IllegalStateException.class, () -> x.readFloats(0, 1));
        assertThrows(IllegalStateException.class, () -> npz.array("y"));
        assertFalse(npz.names().isEmpty());
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i <= haystack.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new AssertionError("not found");
    }
}
