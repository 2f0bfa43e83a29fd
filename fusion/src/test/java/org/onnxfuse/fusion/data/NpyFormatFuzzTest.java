package org.onnxfuse.fusion.data;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Timeout;
import org.onnxfuse.onnx.errors.DataException;

/**
 * Coverage-guided fuzzing of the {@code .npy} header parser ({@link NpyFormat#read}) and of the
 * array reads behind it: any bytes either give an array whose first and last samples decode, or
 * a {@link DataException}. Anything else is a finding. The bytes stay in memory so one execution
 * costs microseconds; {@link NpzArchiveFuzzTest} covers the file-backed reads.
 *
 * <p>Plain {@code mvn test} replays the seeds in {@code NpyFormatFuzzTestInputs/header}; see
 * bench/README.md ("Fuzzing") for the long run.
 */
class NpyFormatFuzzTest {
    static final int MAX_INPUT_BYTES = 1 << 16;

    /** A hang: fuzzing reports it as a timeout finding, the replay as a failure. */
    @Timeout(10)
    @FuzzTest
    void header(byte[] bytes) {
        if (bytes.length > MAX_INPUT_BYTES) {
            return;
        }
        try (NpyArray array = inMemory(bytes, "fuzz.npy")) {
            readEnds(array);
        } catch (DataException refused) {
            // bad magic, version, header, dtype or data size: the documented refusals
        }
    }

    static NpyArray inMemory(byte[] bytes, String source) {
        int[] position = {0};
        ArrayHeader h = NpyFormat.read((dst, len) -> {
            System.arraycopy(bytes, position[0], dst, 0, len);
            position[0] += len;
        }, bytes.length, source);
        NpyArray.checkDataSize(h, bytes.length - h.dataOffset(), source, "the file holds");
        ByteBuffer data = ByteBuffer.wrap(bytes, (int) h.dataOffset(), (int) h.dataBytes()).slice();
        return new NpyArray(source, h, WindowedSource.inMemory(data, h, source), null);
    }

    /** Decodes up to three samples from the start and the last one, as floats and (integer types) longs. */
    static void readEnds(NpyArray array) {
        ArrayHeader h = array.header();
        long samples = h.samples();
        int count = (int) Math.min(3, samples);
        long sampleElements = samples == 0 ? 0 : h.elementCount() / samples;
        assertEquals(count * sampleElements, array.readFloats(0, count).length);
        if (samples > 0) {
            array.readFloats(samples - 1, 1);
        }
        if (h.dtype().isInteger()) {
            assertEquals(count * sampleElements, array.readLongs(0, count).length);
        }
    }
}
