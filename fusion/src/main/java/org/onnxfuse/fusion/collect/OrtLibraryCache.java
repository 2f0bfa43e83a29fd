package org.onnxfuse.fusion.collect;

import ai.onnxruntime.OrtEnvironment;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.CodeSource;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * ONNX Runtime's native libraries, extracted once into a user cache folder instead of on every
 * start. Left alone, ONNX Runtime's Java API inflates its 28 MB library from the jar into a fresh
 * temporary folder each time the process loads it (0.15-0.4 s of every run on the 2-core machines);
 * {@link #install()} extracts both libraries ({@code libonnxruntime.so} and its JNI binding) into
 * {@code <cache>/onnxruntime-<crc>-<crc>/}, named by the CRC-32 of the two jar entries, and points
 * the system property {@value #NATIVE_PATH} at that folder, which ONNX Runtime then loads from.
 *
 * <p>A cached copy is used only when its size and CRC-32 match the jar entry's (a truncated or
 * altered file is extracted again). Extraction writes a temporary file in the same folder and
 * renames it into place atomically, so concurrent runs never see a partial library: each writes its
 * own copy, the last rename wins, and a process that already loaded an earlier copy keeps its
 * mapping. When anything fails (no writable cache folder, libraries not in a jar, a platform other
 * than Linux x86-64) the property is left unset and ONNX Runtime extracts as before. A property the
 * user set is never overridden.
 *
 * <p>The cache folder is {@value #CACHE_PROPERTY} if set, else {@code $XDG_CACHE_HOME/onnx-fuse},
 * else {@code ~/.cache/onnx-fuse}.
 */
public final class OrtLibraryCache {
    /** The property ONNX Runtime reads for a folder holding its native libraries. */
    static final String NATIVE_PATH = "onnxruntime.native.path";
    /** Overrides the cache folder (tests, or a machine whose home is read-only). */
    public static final String CACHE_PROPERTY = "onnxfuse.cache.dir";
    /** Where the Linux x86-64 libraries sit in ONNX Runtime's jar. */
    static final String RESOURCE_FOLDER = "ai/onnxruntime/native/linux-x64/";
    /** Load order: the runtime, then the JNI binding that links against it. */
    static final List<String> LIBRARIES = List.of("libonnxruntime.so", "libonnxruntime4j_jni.so");

    /** The suffix of a copy being written. */
    static final String PARTIAL = ".partial";

    private static Path installed;
    private static boolean tried;

    private OrtLibraryCache() {
    }

    /**
     * Makes ONNX Runtime load its libraries from the cache (extracting them first where needed);
     * idempotent, and a no-op after ONNX Runtime has loaded or where the cache cannot be used.
     * Must run before ONNX Runtime's first use to have an effect.
     *
     * @return the folder the libraries are loaded from, or null when ONNX Runtime extracts them itself
     */
    public static synchronized Path install() {
        if (tried) {
            return installed;
        }
        tried = true;
        if (System.getProperty(NATIVE_PATH) != null || !linuxX64()) {
            return null;
        }
        Path cache = cacheFolder();
        Path jar = jarOf(OrtEnvironment.class);
        if (cache == null || jar == null) {
            return null;
        }
        try {
            installed = extract(jar, cache);
            System.setProperty(NATIVE_PATH, installed.toString());
        } catch (IOException | RuntimeException e) {
            installed = null; // ONNX Runtime falls back to its own temporary copy
        }
        return installed;
    }

    /**
     * Loads both libraries from the cache into this class loader, as ONNX Runtime would on its
     * first use, then initialises ONNX Runtime's API (the {@link OrtEnvironment} class, not an
     * environment: its log level is still open), so that all of it can overlap other start-up work.
     * ONNX Runtime's own {@code System.load} of the same files is then a no-op. Does nothing where
     * {@link #install()} does not use the cache; where a library does not load, ONNX Runtime's
     * first real use reports it.
     */
    public static void preload() {
        Path folder = install();
        if (folder == null) {
            return;
        }
        for (String library : LIBRARIES) {
            System.load(folder.resolve(library).toString());
        }
        try {
            Class.forName(OrtEnvironment.class.getName(), true, OrtLibraryCache.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Extracts the libraries of {@code jar} into a folder of {@code cache} named by their CRC-32s,
     * unless valid copies are there already; returns that folder.
     */
    static Path extract(Path jar, Path cache) throws IOException {
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            StringBuilder name = new StringBuilder("onnxruntime");
            ZipEntry[] entries = new ZipEntry[LIBRARIES.size()];
            for (int i = 0; i < entries.length; i++) {
                entries[i] = zip.getEntry(RESOURCE_FOLDER + LIBRARIES.get(i));
                if (entries[i] == null || entries[i].getCrc() < 0 || entries[i].getSize() < 0) {
                    throw new IOException(jar + " has no " + RESOURCE_FOLDER + LIBRARIES.get(i));
                }
                name.append('-').append(String.format(Locale.ROOT, "%08x", entries[i].getCrc()));
            }
            Path folder = cache.resolve(name.toString());
            Files.createDirectories(folder);
            removeStalePartials(folder);
            for (int i = 0; i < entries.length; i++) {
                Path target = folder.resolve(LIBRARIES.get(i));
                if (!matches(target, entries[i])) {
                    copy(zip, entries[i], target);
                }
            }
            return folder;
        }
    }

    /** Partial copies older than this were left by a run that was killed while extracting. */
    static final Duration STALE = Duration.ofHours(1);

    /** Deletes the partial copies of killed runs (a live run's copy is younger than {@link #STALE}). */
    private static void removeStalePartials(Path folder) throws IOException {
        Instant before = Instant.now().minus(STALE);
        try (DirectoryStream<Path> partials = Files.newDirectoryStream(folder, "*" + PARTIAL)) {
            for (Path p : partials) {
                try {
                    if (Files.getLastModifiedTime(p).toInstant().isBefore(before)) {
                        Files.deleteIfExists(p);
                    }
                } catch (IOException e) {
                    // another run removed it, or it cannot be removed: either way not ours to stop on
                }
            }
        }
    }

    /** Whether {@code file} exists with the entry's size and CRC-32. */
    static boolean matches(Path file, ZipEntry entry) throws IOException {
        if (!Files.isRegularFile(file) || Files.size(file) != entry.getSize()) {
            return false;
        }
        CRC32 crc = new CRC32();
        ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20);
        try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
            while (in.read(buffer.clear()) >= 0) {
                crc.update(buffer.flip());
            }
        }
        return crc.getValue() == entry.getCrc();
    }

    /** Writes the entry to a temporary file beside {@code target}, checks it, and renames it into place. */
    private static void copy(ZipFile zip, ZipEntry entry, Path target) throws IOException {
        Path partial = Files.createTempFile(target.getParent(), target.getFileName() + ".", PARTIAL);
        try {
            try (InputStream in = zip.getInputStream(entry);
                 OutputStream out = Files.newOutputStream(partial, StandardOpenOption.WRITE)) {
                in.transferTo(out);
            }
            if (!matches(partial, entry)) {
                throw new IOException("the copy of " + entry.getName() + " does not match the jar");
            }
            try {
                Files.move(partial, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("cannot rename within " + target.getParent(), e);
            }
        } finally {
            Files.deleteIfExists(partial);
        }
    }

    /** The cache folder by {@value #CACHE_PROPERTY}, XDG_CACHE_HOME or the home folder; null when none is known. */
    static Path cacheFolder() {
        String set = System.getProperty(CACHE_PROPERTY);
        if (set != null && !set.isBlank()) {
            return Path.of(set);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank() && Path.of(xdg).isAbsolute()) {
            return Path.of(xdg, "onnx-fuse");
        }
        String home = System.getProperty("user.home");
        return home == null || home.isBlank() || home.equals("?") ? null : Path.of(home, ".cache", "onnx-fuse");
    }

    /** The jar file {@code type} was loaded from, or null (a class folder, or no code source). */
    static Path jarOf(Class<?> type) {
        CodeSource source = type.getProtectionDomain().getCodeSource();
        if (source == null || source.getLocation() == null) {
            return null;
        }
        try {
            Path path = Path.of(source.getLocation().toURI());
            return Files.isRegularFile(path) ? path : null;
        } catch (URISyntaxException | IllegalArgumentException e) {
            return null;
        }
    }

    private static boolean linuxX64() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        return os.contains("linux") && (arch.equals("amd64") || arch.equals("x86_64"));
    }
}
