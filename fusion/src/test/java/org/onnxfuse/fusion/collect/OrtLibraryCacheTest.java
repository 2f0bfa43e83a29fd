package org.onnxfuse.fusion.collect;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtEnvironment;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ONNX Runtime's libraries extracted once into a cache folder: copies that match the jar are used
 * as they are; a truncated or altered copy is replaced; concurrent extractions all end with valid
 * files and leave no partial copies; partial copies of killed runs are removed once stale.
 */
class OrtLibraryCacheTest {
    @TempDir
    Path dir;

    /** A jar holding the two library entries with random contents; returns the contents. */
    private static byte[][] fakeJar(Path jar, int seed) throws IOException {
        Random random = new Random(seed);
        byte[][] contents = {new byte[300_000 + seed], new byte[5_000]};
        try (ZipOutputStream zip = new ZipOutputStream(Files.newOutputStream(jar))) {
            for (int i = 0; i < contents.length; i++) {
                random.nextBytes(contents[i]);
                zip.putNextEntry(new ZipEntry(OrtLibraryCache.RESOURCE_FOLDER + OrtLibraryCache.LIBRARIES.get(i)));
                zip.write(contents[i]);
                zip.closeEntry();
            }
        }
        return contents;
    }

    private static void assertExtracted(Path folder, byte[][] contents) throws IOException {
        for (int i = 0; i < contents.length; i++) {
            assertArrayEquals(contents[i], Files.readAllBytes(folder.resolve(OrtLibraryCache.LIBRARIES.get(i))));
        }
        try (Stream<Path> files = Files.list(folder)) {
            assertEquals(contents.length, files.count(), "only the libraries, no partial copies");
        }
    }

    @Test
    void extractsOnceAndReusesMatchingCopies() throws Exception {
        Path jar = dir.resolve("a.jar");
        byte[][] contents = fakeJar(jar, 1);
        Path cache = dir.resolve("cache");
        Path folder = OrtLibraryCache.extract(jar, cache);
        assertEquals(cache, folder.getParent());
        assertTrue(folder.getFileName().toString().matches("onnxruntime-[0-9a-f]{8}-[0-9a-f]{8}"), folder.toString());
        assertExtracted(folder, contents);

        Path lib = folder.resolve(OrtLibraryCache.LIBRARIES.get(0));
        FileTime old = FileTime.from(Instant.parse("2020-01-01T00:00:00Z"));
        Files.setLastModifiedTime(lib, old);
        Object inode = Files.readAttributes(lib, "unix:ino").get("ino");
        assertEquals(folder, OrtLibraryCache.extract(jar, cache));
        assertEquals(old, Files.getLastModifiedTime(lib), "a matching copy is not written again");
        assertEquals(inode, Files.readAttributes(lib, "unix:ino").get("ino"));
    }

    @Test
    void anotherVersionGetsItsOwnFolder() throws Exception {
        Path a = dir.resolve("a.jar");
        Path b = dir.resolve("b.jar");
        byte[][] ca = fakeJar(a, 1);
        byte[][] cb = fakeJar(b, 2);
        Path cache = dir.resolve("cache");
        Path fa = OrtLibraryCache.extract(a, cache);
        Path fb = OrtLibraryCache.extract(b, cache);
        assertFalse(fa.equals(fb));
        assertExtracted(fa, ca);
        assertExtracted(fb, cb);
    }

    @Test
    void replacesAlteredAndTruncatedCopies() throws Exception {
        Path jar = dir.resolve("a.jar");
        byte[][] contents = fakeJar(jar, 1);
        Path cache = dir.resolve("cache");
        Path folder = OrtLibraryCache.extract(jar, cache);
        Path lib = folder.resolve(OrtLibraryCache.LIBRARIES.get(0));
        Path jni = folder.resolve(OrtLibraryCache.LIBRARIES.get(1));

        byte[] altered = contents[0].clone();
        altered[altered.length / 2] ^= 1; // same size, one bit off
        Files.write(lib, altered);
        Files.write(jni, java.util.Arrays.copyOf(contents[1], 100)); // truncated, as by a full disk
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            assertFalse(OrtLibraryCache.matches(lib, zip.getEntry(OrtLibraryCache.RESOURCE_FOLDER
                    + OrtLibraryCache.LIBRARIES.get(0))));
        }
        assertEquals(folder, OrtLibraryCache.extract(jar, cache));
        assertExtracted(folder, contents);

        Files.delete(lib);
        OrtLibraryCache.extract(jar, cache);
        assertExtracted(folder, contents);
    }

    @Test
    void concurrentExtractionsAllSucceed() throws Exception {
        Path jar = dir.resolve("a.jar");
        byte[][] contents = fakeJar(jar, 3);
        Path cache = dir.resolve("cache");
        int runs = 8;
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(runs);
        try {
            List<Future<Path>> done = new ArrayList<>();
            for (int i = 0; i < runs; i++) {
                Callable<Path> run = () -> {
                    start.await();
                    return OrtLibraryCache.extract(jar, cache);
                };
                done.add(pool.submit(run));
            }
            start.countDown();
            Path first = done.get(0).get();
            for (Future<Path> f : done) {
                assertEquals(first, f.get());
            }
            assertExtracted(first, contents);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void removesStalePartialCopiesOnly() throws Exception {
        Path jar = dir.resolve("a.jar");
        byte[][] contents = fakeJar(jar, 1);
        Path cache = dir.resolve("cache");
        Path folder = OrtLibraryCache.extract(jar, cache);
        Path stale = folder.resolve("libonnxruntime.so.123" + OrtLibraryCache.PARTIAL);
        Path live = folder.resolve("libonnxruntime.so.456" + OrtLibraryCache.PARTIAL);
        try (OutputStream out = Files.newOutputStream(stale)) {
            out.write(1);
        }
        Files.write(live, new byte[1]);
        Files.setLastModifiedTime(stale, FileTime.from(Instant.now().minus(OrtLibraryCache.STALE).minusSeconds(60)));
        OrtLibraryCache.extract(jar, cache);
        assertFalse(Files.exists(stale));
        assertTrue(Files.exists(live), "a partial copy younger than an hour may belong to a running extraction");
        Files.delete(live);
        assertExtracted(folder, contents);
    }

    @Test
    void aCacheFolderThatCannotBeMadeIsRefused() throws Exception {
        Path jar = dir.resolve("a.jar");
        fakeJar(jar, 1);
        Path file = Files.createFile(dir.resolve("not-a-folder"));
        // install() catches this and leaves ONNX Runtime to extract the libraries itself
        assertThrows(IOException.class, () -> OrtLibraryCache.extract(jar, file.resolve("cache")));
    }

    @Test
    void aJarWithoutTheLibrariesIsRefused() throws Exception {
        Path jar = dir.resolve("empty.jar");
        try (ZipOutputStream zip = new ZipOutputStream(Files.newOutputStream(jar))) {
            zip.putNextEntry(new ZipEntry("other.txt"));
            zip.closeEntry();
        }
        assertThrows(IOException.class, () -> OrtLibraryCache.extract(jar, dir.resolve("cache")));
    }

    @Test
    void theRealLibrariesExtractToCopiesOfTheJarEntries() throws Exception {
        Path jar = OrtLibraryCache.jarOf(OrtEnvironment.class);
        assertNotNull(jar, "ONNX Runtime is loaded from a jar");
        Path folder = OrtLibraryCache.extract(jar, dir.resolve("cache"));
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            for (String library : OrtLibraryCache.LIBRARIES) {
                ZipEntry entry = zip.getEntry(OrtLibraryCache.RESOURCE_FOLDER + library);
                assertTrue(OrtLibraryCache.matches(folder.resolve(library), entry), library);
            }
        }
    }
}
