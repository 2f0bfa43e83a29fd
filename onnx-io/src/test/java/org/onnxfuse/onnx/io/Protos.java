package org.onnxfuse.onnx.io;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

/** Hand-built ONNX protobuf messages for tests (built directly, to control every encoding detail). */
final class Protos {
    static final int FLOAT = TensorProto.DataType.FLOAT_VALUE;
    static final int OPSET = 13;

    private Protos() {
    }

    static float[] randomFloats(Random random, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) random.nextGaussian() * 0.5f;
        }
        return v;
    }

    static ByteString rawFloats(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(values);
        return ByteString.copyFrom(b.array());
    }

    static TensorProto rawFloatTensor(String name, long[] dims, float[] values) {
        TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(FLOAT).setRawData(rawFloats(values));
        for (long d : dims) {
            b.addDims(d);
        }
        return b.build();
    }

    static TensorProto typedFloatTensor(String name, long[] dims, float[] values) {
        TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(FLOAT);
        for (long d : dims) {
            b.addDims(d);
        }
        for (float v : values) {
            b.addFloatData(v);
        }
        return b.build();
    }

    /** A tensor value info; a dimension of -1 becomes the symbol "N". */
    static ValueInfoProto valueInfo(String name, int elemType, long... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (long d : dims) {
            shape.addDim(d < 0 ? TensorShapeProto.Dimension.newBuilder().setDimParam("N")
                    : TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(elemType).setShape(shape))).build();
    }

    static NodeProto node(String name, String op, String[] inputs, String[] outputs, AttributeProto... attributes) {
        NodeProto.Builder b = NodeProto.newBuilder().setName(name).setOpType(op);
        for (String i : inputs) {
            b.addInput(i);
        }
        for (String o : outputs) {
            b.addOutput(o);
        }
        for (AttributeProto a : attributes) {
            b.addAttribute(a);
        }
        return b.build();
    }

    static AttributeProto intAttr(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
    }

    static AttributeProto floatAttr(String name, float v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(v).build();
    }

    static AttributeProto graphAttr(String name, GraphProto g) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.GRAPH).setG(g).build();
    }

    static ModelProto model(GraphProto graph) {
        return ModelProto.newBuilder().setIrVersion(8).setProducerName("onnx-io-test").setGraph(graph)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(OPSET)).build();
    }

    /**
     * x[N,4] -> Gemm(W1[8,4], b1, transB) -> Relu -> Gemm(W2[3,8], b2, transB) -> y[N,3]. The
     * weights come from {@code seed}; {@code typed} stores them in float_data instead of raw_data.
     */
    static GraphProto.Builder mlpGraph(long seed, boolean typed) {
        Random r = new Random(seed);
        float[] w1 = randomFloats(r, 32);
        float[] b1 = randomFloats(r, 8);
        float[] w2 = randomFloats(r, 24);
        float[] b2 = randomFloats(r, 3);
        GraphProto.Builder g = GraphProto.newBuilder().setName("mlp");
        g.addInput(valueInfo("x", FLOAT, -1, 4));
        g.addOutput(valueInfo("y", FLOAT, -1, 3));
        g.addNode(node("fc1", "Gemm", new String[] {"x", "W1", "b1"}, new String[] {"h"}, intAttr("transB", 1),
                floatAttr("alpha", 1.0f)));
        g.addNode(node("relu", "Relu", new String[] {"h"}, new String[] {"a"}));
        g.addNode(node("fc2", "Gemm", new String[] {"a", "W2", "b2"}, new String[] {"y"}, intAttr("transB", 1)));
        if (typed) {
            g.addInitializer(typedFloatTensor("W1", new long[] {8, 4}, w1));
            g.addInitializer(typedFloatTensor("b1", new long[] {8}, b1));
            g.addInitializer(typedFloatTensor("W2", new long[] {3, 8}, w2));
            g.addInitializer(typedFloatTensor("b2", new long[] {3}, b2));
        } else {
            g.addInitializer(rawFloatTensor("W1", new long[] {8, 4}, w1));
            g.addInitializer(rawFloatTensor("b1", new long[] {8}, b1));
            g.addInitializer(rawFloatTensor("W2", new long[] {3, 8}, w2));
            g.addInitializer(rawFloatTensor("b2", new long[] {3}, b2));
        }
        return g;
    }

    static ModelProto mlp(long seed, boolean typed) {
        return model(mlpGraph(seed, typed).build());
    }
}
