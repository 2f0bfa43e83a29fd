package org.onnxfuse.onnx.io;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The temporary files a run writes next to its outputs before moving them into place. Each is
 * named {@code .<target>.onnx-fuse-<pid>-<hex>.tmp}, so that it is recognisably ours and says which
 * process owns it. Live ones are deleted by a shutdown hook when the JVM ends (SIGTERM, SIGINT,
 * System.exit); what a SIGKILL leaves behind, a later run removes with {@link #removeStale}.
 */
public final class TempFiles {
    private static final Pattern OURS = Pattern.compile("^\\..+\\.onnx-fuse-(\\d+)-[0-9a-f]+\\.tmp$");
    private static final long PID = ProcessHandle.current().pid();
    private static final Set<Path> LIVE = ConcurrentHashMap.newKeySet();

    private TempFiles() {
    }

    /** Installed with the first temporary file: deletes what the run has not moved or deleted yet. */
    private static final class Hook {
        static {
            Runtime.getRuntime().addShutdownHook(new Thread(TempFiles::deleteLive, "onnx-fuse temporary files"));
        }

        static void install() {
            // loading the class registers the hook once
        }
    }

    /** Creates an empty temporary file in {@code dir} for {@code targetName}, registered for the hook. */
    public static Path create(Path dir, String targetName) throws IOException {
        Hook.install();
        for (int attempt = 0; ; attempt++) {
            Path temp = dir.resolve("." + targetName + ".onnx-fuse-" + PID + "-"
                    + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
            LIVE.add(temp);
            try {
                FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE).close();
                return temp;
            } catch (FileAlreadyExistsException e) {
                LIVE.remove(temp);
                if (attempt > 10) {
                    throw e;
                }
            } catch (IOException | RuntimeException e) {
                LIVE.remove(temp);
                throw e;
            }
        }
    }

    /** {@code temp} was moved into place: the hook must leave it alone. */
    public static void moved(Path temp) {
        LIVE.remove(temp);
    }

    /** Deletes {@code temp} if it still exists (best effort) and forgets it. */
    public static void delete(Path temp) {
        if (temp == null) {
            return;
        }
        try {
            Files.deleteIfExists(temp);
        } catch (IOException ignored) {
            // best effort: the error that led here matters more
        }
        LIVE.remove(temp);
    }

    /** The temporary files the hook would delete now. */
    public static Set<Path> live() {
        return Set.copyOf(LIVE);
    }

    static void deleteLive() {
        for (Path temp : List.copyOf(LIVE)) {
            delete(temp);
        }
    }

    /**
     * Deletes the temporary files in {@code dir} that an earlier run left: ours by name, owned by a
     * process that no longer runs (so nothing has them open) and last modified before this process
     * started. Returns what was deleted.
     */
    public static List<Path> removeStale(Path dir) {
        List<Path> removed = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return removed;
        }
        Instant started = ProcessHandle.current().info().startInstant().orElseGet(Instant::now);
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir, ".*.tmp")) {
            for (Path entry : entries) {
                if (isStale(entry, started)) {
                    try {
                        Files.deleteIfExists(entry);
                        removed.add(entry);
                    } catch (IOException ignored) {
                        // another run removed it first, or the folder is read-only: leave it
                    }
                }
            }
        } catch (IOException ignored) {
            // an unreadable folder: the write itself will say what is wrong
        }
        return removed;
    }

    private static boolean isStale(Path entry, Instant started) throws IOException {
        Matcher m = OURS.matcher(String.valueOf(entry.getFileName()));
        if (!m.matches() || !Files.isRegularFile(entry, LinkOption.NOFOLLOW_LINKS)) {
            return false;
        }
        long owner;
        try {
            owner = Long.parseLong(m.group(1));
        } catch (NumberFormatException e) {
            return false;
        }
        boolean ownerRuns = owner == PID || ProcessHandle.of(owner).map(ProcessHandle::isAlive).orElse(false);
        return !ownerRuns && Files.getLastModifiedTime(entry, LinkOption.NOFOLLOW_LINKS).toInstant().isBefore(started);
    }
}
