package org.onnxfuse.onnx.io;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.code_intelligence.jazzer.junit.FuzzTest;
import org.junit.jupiter.api.Timeout;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * Coverage-guided fuzzing of {@link OnnxReader#parse}: any bytes either give a model or a
 * {@link ModelFormatException}; a model's tensors decode, and it writes back to bytes that read
 * again to the same graph. Anything else (NullPointerException, IndexOutOfBounds, StackOverflowError,
 * OutOfMemoryError, a hang) is a finding.
 *
 * <p>Plain {@code mvn test} replays the seeds in {@code OnnxReaderFuzzTestInputs/parse}; see
 * bench/README.md ("Fuzzing") for the long run.
 */
class OnnxReaderFuzzTest {
    /** Larger inputs only slow the fuzzer down; the seeds are a few KB. */
    static final int MAX_INPUT_BYTES = 1 << 16;
    /**
     * Tensors are decoded lazily and a shape is a claim the reader may not refuse (a sparse
     * initializer of shape [10^9] is a few bytes): decoding is checked up to this size only.
     */
    static final long MAX_DECODED_BYTES = 1 << 20;

    /** A hang: fuzzing reports it as a timeout finding, the replay as a failure. */
    @Timeout(10)
    @FuzzTest
    void parse(byte[] bytes) {
        if (bytes.length > MAX_INPUT_BYTES) {
            return;
        }
        Model model;
        try {
            model = OnnxReader.parse(bytes, null);
        } catch (ModelFormatException refused) {
            return;
        }
        decodeTensors(model.graph());
        byte[] written;
        try {
            written = OnnxWriter.toBytes(model);
        } catch (OnnxFuseException refused) {
            return;
        }
        Model reread = OnnxReader.parse(written, null);
        assertEquals(model.graph().nodes().size(), reread.graph().nodes().size());
        assertEquals(model.graph().initializers().keySet(), reread.graph().initializers().keySet());
    }

    private static void decodeTensors(Graph graph) {
        graph.initializers().values().forEach(OnnxReaderFuzzTest::decode);
        for (Node node : graph.nodes()) {
            for (Attribute a : node.attributes().values()) {
                if (a.value() instanceof Tensor t) {
                    decode(t);
                } else if (a.value() instanceof java.util.List<?> list) {
                    for (Object o : list) {
                        if (o instanceof Tensor t) {
                            decode(t);
                        }
                    }
                }
            }
            node.subgraphs().forEach(OnnxReaderFuzzTest::decodeTensors);
        }
    }

    private static void decode(Tensor t) {
        if (t.data() == null || t.data().byteLength() > MAX_DECODED_BYTES) {
            return;
        }
        try {
            assertEquals(t.data().byteLength(), t.data().rawBytes().remaining(), t.name());
        } catch (ModelFormatException | UnsupportedOperationException refused) {
            // sparse indices out of range or unsorted, sub-byte sparse types: refused with a message
        }
    }
}
