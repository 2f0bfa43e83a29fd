package org.onnxfuse.fusion.data;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.file.Path;
import org.junit.jupiter.api.Timeout;
import org.onnxfuse.onnx.errors.DataException;

/**
 * Coverage-guided fuzzing of {@link NpzArchive}: the zip directory ({@link ZipDirectory}), local
 * headers, stored and deflated entries ({@link InflatingReader}, in memory and streamed) and
 * the {@code .npy} inside. Any bytes either open as an archive whose arrays decode, or fail with
 * a {@link DataException}. Anything else is a finding.
 *
 * <p>The bytes are read through an in-memory channel ({@link ByteArrayChannel}), not a file: with
 * a file written per input the fuzzer ran about 500 inputs a second, in memory about 6,500. Limits are small (64 KiB in memory, 4 KiB windows) so both
 * the in-memory and the streaming paths run at fuzzing sizes.
 *
 * <p>Plain {@code mvn test} replays the seeds in {@code NpzArchiveFuzzTestInputs/archive}; see
 * bench/README.md ("Fuzzing") for the long run.
 */
class NpzArchiveFuzzTest {
    static final int MAX_INPUT_BYTES = 1 << 16;
    private static final Path NAME = Path.of("fuzz.npz");

    /** A hang: fuzzing reports it as a timeout finding, the replay as a failure. */
    @Timeout(10)
    @FuzzTest
    void archive(byte[] bytes) {
        if (bytes.length > MAX_INPUT_BYTES) {
            return;
        }
        try (NpzArchive npz = NpzArchive.open(NAME, new ByteArrayChannel(bytes), 1 << 16, 1 << 12)) {
            for (String name : npz.names()) {
                try {
                    NpyFormatFuzzTest.readEnds(npz.array(name));
                } catch (DataException refused) {
                    // one damaged entry; the others may still read
                }
            }
        } catch (DataException refused) {
            // not a zip, a damaged directory, duplicate names
        }
    }
}
