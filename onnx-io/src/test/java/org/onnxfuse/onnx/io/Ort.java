package org.onnxfuse.onnx.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * ONNX Runtime as the oracle: runs a model (from a path or bytes) on seeded random inputs and
 * returns every output's bytes, so two models can be compared bit for bit.
 */
final class Ort {
    static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();
    static final int SYMBOLIC_DIM = 3;

    private Ort() {
    }

    private static OrtSession.SessionOptions options() throws OrtException {
        OrtSession.SessionOptions o = new OrtSession.SessionOptions();
        o.setIntraOpNumThreads(1);
        o.setInterOpNumThreads(1);
        return o;
    }

    /** Output name -> raw bytes (or a description for non-tensor values), for seeded random inputs. */
    static Map<String, Object> run(Path model, long seed) {
        try (OrtSession.SessionOptions o = options(); OrtSession s = ENV.createSession(model.toString(), o)) {
            return run(s, seed);
        } catch (OrtException e) {
            throw new AssertionError("ONNX Runtime could not run " + model + ": " + e.getMessage(), e);
        }
    }

    static Map<String, Object> run(byte[] model, long seed) {
        try (OrtSession.SessionOptions o = options(); OrtSession s = ENV.createSession(model, o)) {
            return run(s, seed);
        } catch (OrtException e) {
            throw new AssertionError("ONNX Runtime could not run the model bytes: " + e.getMessage(), e);
        }
    }

    private static Map<String, Object> run(OrtSession session, long seed) throws OrtException {
        Random random = new Random(seed);
        Map<String, OnnxTensor> inputs = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, NodeInfo> e : session.getInputInfo().entrySet()) {
                inputs.put(e.getKey(), randomTensor((TensorInfo) e.getValue().getInfo(), random));
            }
            Map<String, Object> outputs = new LinkedHashMap<>();
            try (OrtSession.Result result = session.run(inputs)) {
                for (Map.Entry<String, OnnxValue> e : result) {
                    if (e.getValue() instanceof OnnxTensor t && t.getInfo().type != OnnxJavaType.STRING) {
                        ByteBuffer b = t.getByteBuffer();
                        byte[] bytes = new byte[b.remaining()];
                        b.get(bytes);
                        outputs.put(e.getKey(), bytes);
                    } else {
                        outputs.put(e.getKey(), String.valueOf(Arrays.deepToString(new Object[] {e.getValue().getValue()})));
                    }
                }
            }
            return outputs;
        } finally {
            inputs.values().forEach(OnnxTensor::close);
        }
    }

    private static OnnxTensor randomTensor(TensorInfo info, Random random) throws OrtException {
        long[] shape = info.getShape().clone();
        int n = 1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) {
                shape[i] = SYMBOLIC_DIM;
            }
            n *= (int) shape[i];
        }
        ByteBuffer b = ByteBuffer.allocateDirect(n * Math.max(1, bytes(info.type))).order(ByteOrder.nativeOrder());
        for (int i = 0; i < n; i++) {
            switch (info.type) {
                case FLOAT -> b.putFloat((float) random.nextGaussian());
                case DOUBLE -> b.putDouble(random.nextGaussian());
                case INT64 -> b.putLong(random.nextInt(2));
                case INT32 -> b.putInt(random.nextInt(2));
                case INT8, UINT8, BOOL -> b.put((byte) random.nextInt(2));
                default -> throw new AssertionError("no random input for type " + info.type);
            }
        }
        b.flip();
        return switch (info.type) {
            case FLOAT -> OnnxTensor.createTensor(ENV, b.asFloatBuffer(), shape);
            case DOUBLE -> OnnxTensor.createTensor(ENV, b.asDoubleBuffer(), shape);
            case INT64 -> OnnxTensor.createTensor(ENV, b.asLongBuffer(), shape);
            case INT32 -> OnnxTensor.createTensor(ENV, b.asIntBuffer(), shape);
            default -> OnnxTensor.createTensor(ENV, b, shape, info.type);
        };
    }

    private static int bytes(OnnxJavaType type) {
        return switch (type) {
            case DOUBLE, INT64 -> 8;
            case FLOAT, INT32 -> 4;
            default -> 1;
        };
    }

    /** Same output names, and every output bit-identical. */
    static void assertSameOutputs(Map<String, Object> expected, Map<String, Object> actual) {
        assertEquals(expected.keySet(), actual.keySet(), "output names");
        assertTrue(!expected.isEmpty(), "the model has outputs");
        for (String name : expected.keySet()) {
            Object e = expected.get(name);
            Object a = actual.get(name);
            assertNotNull(a, name);
            if (e instanceof byte[] eb) {
                assertArrayEquals(eb, (byte[]) a, "output '" + name + "' differs");
            } else {
                assertEquals(e, a, "output '" + name + "' differs");
            }
        }
    }
}
