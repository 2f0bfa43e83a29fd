package org.onnxfuse.onnx.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.onnx.errors.OutputException;

/** Temporary files: named as ours with their owner, deleted by the hook, and stale ones removed by a later run. */
class TempFilesTest {
    @TempDir
    Path dir;

    @Test
    void theHookDeletesWhatIsNotMovedOrDeleted() throws IOException {
        Path kept = TempFiles.create(dir, "fused.onnx");
        Path movedAway = TempFiles.create(dir, "fused.onnx");
        assertTrue(kept.getFileName().toString().matches("\\.fused\\.onnx\\.onnx-fuse-"
                + ProcessHandle.current().pid() + "-[0-9a-f]+\\.tmp"), kept.toString());
        assertTrue(TempFiles.live().containsAll(List.of(kept, movedAway)));
        Files.move(movedAway, dir.resolve("fused.onnx"));
        TempFiles.moved(movedAway);
        assertFalse(TempFiles.live().contains(movedAway));

        TempFiles.deleteLive();
        assertFalse(Files.exists(kept));
        assertTrue(Files.exists(dir.resolve("fused.onnx")), "what was moved into place stays");
        assertFalse(TempFiles.live().contains(kept));
    }

    private Path file(String name, Instant modified) throws IOException {
        Path p = Files.write(dir.resolve(name), new byte[4]);
        Files.setLastModifiedTime(p, FileTime.from(modified));
        return p;
    }

    @Test
    void staleFilesAreOursByNameOwnedByAnEndedProcessAndOlderThanThisRun() throws IOException, InterruptedException {
        Process finished = new ProcessBuilder("true").start();
        finished.waitFor();
        long ended = finished.pid();
        Instant hourAgo = Instant.now().minusSeconds(3600);
        Path stale = file(".fused.onnx.onnx-fuse-" + ended + "-1f.tmp", hourAgo);
        Path staleProbe = file(".onnx-fuse-probe.onnx-fuse-" + ended + "-2e.tmp", hourAgo);
        Path ownerRuns = file(".fused.onnx.onnx-fuse-" + ProcessHandle.current().pid() + "-3d.tmp", hourAgo);
        Path newer = file(".fused.onnx.onnx-fuse-" + ended + "-4c.tmp", Instant.now().plusSeconds(3600));
        Path notOurs = file(".fused.onnx.5b.tmp", hourAgo);
        Path model = file("fused.onnx", hourAgo);

        List<Path> removed = TempFiles.removeStale(dir);

        assertEquals(List.of(staleProbe, stale).stream().sorted().toList(), removed.stream().sorted().toList());
        for (Path left : List.of(ownerRuns, newer, notOurs, model)) {
            assertTrue(Files.exists(left), left + " must stay");
        }
    }

    @Test
    void aFailedSecondCommitCanTakeTheFirstBack() throws IOException {
        Path model = dir.resolve("fused.onnx");
        Path blocked = Files.createDirectories(dir.resolve("report.json"));
        Files.write(blocked.resolve("inside"), new byte[1]); // a non-empty folder cannot be renamed over
        StagedFiles first = StagedFiles.write(model, temp -> Files.write(temp, new byte[] {1, 2}));
        StagedFiles second = StagedFiles.write(blocked, temp -> Files.write(temp, new byte[] {3}));
        first.commit();
        assertArrayEquals(new byte[] {1, 2}, Files.readAllBytes(model));
        assertThrows(OutputException.class, second::commit);
        first.removeCommitted();
        second.close();
        first.close();
        assertFalse(Files.exists(model));
        try (var left = Files.list(dir)) {
            assertEquals(List.of(blocked), left.toList(), "no temporary file is left");
        }
    }
}
