package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.AttributeType;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.OpsetImport;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorType;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Models that are wrong in ways the reader's structure checks do not see, through the real
 * command line: each is refused at read or plan time, by `plan` and by fusion alike, with the
 * invalid-model (24) or unsupported-op (30) code and a message naming what is wrong; no output
 * is left behind.
 */
class HostileModelCliTest {
    @TempDir
    Path dir;

    private Path edited(String fixture, UnaryOperator<Model> edit) {
        Path p = dir.resolve("edited_" + fixture);
        OnnxWriter.write(edit.apply(Fixtures.read(fixture)), p);
        return p;
    }

    /** Refused with {@code code} and {@code part} by `plan` and by a fusion, writing nothing. */
    private void refusedEverywhere(ErrorCode code, String part, Path model) {
        CliRunner plan = new CliRunner();
        int planExit = plan.run("plan", model.toString());
        assertEquals(code.exitCode(), planExit, "plan: " + plan.err);
        assertOneLineContaining(plan.err.toString(), part);
        CliRunner fuse = new CliRunner();
        Path out = dir.resolve("fused.onnx");
        int fuseExit = fuse.run(model.toString(), model.toString(), "--data",
                Fixtures.data("calib400_x.npy").toString(), "--importance", "uniform", "-q", "-o", out.toString());
        assertEquals(code.exitCode(), fuseExit, "fuse: " + fuse.err);
        assertOneLineContaining(fuse.err.toString(), part);
        assertFalse(Files.exists(out), "no output after a refusal");
    }

    private static void assertOneLineContaining(String err, String part) {
        assertEquals(1, err.strip().split("\n").length, "one line expected: " + err);
        assertTrue(err.contains(part), "'" + part + "' not in: " + err);
    }

    private static Model withNode(Model m, String opType, UnaryOperator<Node> edit) {
        Graph g = m.graph();
        List<Node> nodes = new ArrayList<>();
        boolean done = false;
        for (Node n : g.nodes()) {
            if (!done && n.opType().equals(opType)) {
                nodes.add(edit.apply(n));
                done = true;
            } else {
                nodes.add(n);
            }
        }
        assertTrue(done, "no " + opType + " node");
        return m.withGraph(g.toBuilder().nodes(nodes).build());
    }

    @Test
    void gemmTransBGivenAsInts() {
        Path p = edited("mlp_k2_p0.onnx", m -> withNode(m, "Gemm", n -> n.withAttribute(Attribute.ofLongs("transB", 1))));
        refusedEverywhere(ErrorCode.INVALID_MODEL, "transB", p);
    }

    @Test
    void convPadsGivenAsFloat() {
        Path p = edited("vgg_p0.onnx", m -> withNode(m, "Conv", n -> n.withAttribute(Attribute.ofFloat("pads", 1f))));
        refusedEverywhere(ErrorCode.INVALID_MODEL, "pads", p);
    }

    @Test
    void convGroupGivenAsString() {
        Path p = edited("vgg_p0.onnx", m -> withNode(m, "Conv", n -> n.withAttribute(Attribute.ofString("group", "1"))));
        refusedEverywhere(ErrorCode.INVALID_MODEL, "group", p);
    }

    @Test
    void reshapeWithAFloatShape() {
        Path p = edited("mlp_k2_p0.onnx", m -> {
            Graph g = m.graph();
            Node flatten = g.nodes().stream().filter(n -> n.opType().equals("Flatten")).findFirst().orElseThrow();
            Node reshape = Node.of("float_reshape", "Reshape", List.of(flatten.inputs().get(0), "shape_f"),
                    flatten.outputs());
            Graph.Builder b = g.toBuilder().replaceNode(flatten, reshape);
            b.addInitializer(Tensor.ofFloats("shape_f", new long[] {2}, new float[] {-1, 784}));
            return m.withGraph(b.build());
        });
        refusedEverywhere(ErrorCode.INVALID_MODEL, "shape_f", p);
    }

    private static Model withFirstGemmWeight(Model m, float value) {
        Node gemm = m.graph().nodes().stream().filter(n -> n.opType().equals("Gemm")).findFirst().orElseThrow();
        Tensor w = m.graph().initializer(gemm.inputs().get(1)).orElseThrow();
        float[] values = w.toFloats();
        values[3] = value;
        return m.withGraph(m.graph().toBuilder().putInitializer(w.withFloats(w.dims(), values)).build());
    }

    @Test
    void nanInfAndHugeWeights() {
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, 3e38f}) {
            Path p = edited("mlp_k2_p0.onnx", m -> withFirstGemmWeight(m, bad));
            refusedEverywhere(ErrorCode.INVALID_MODEL, "fc1.weight", p);
        }
    }

    private static Model withOpset(Model m, long version) {
        List<OpsetImport> opsets = m.opsetImports().stream()
                .map(o -> o.isDefaultDomain() ? new OpsetImport(o.domain(), version) : o).toList();
        return new Model(m.irVersion(), opsets, m.producerName(), m.producerVersion(), m.domain(), m.modelVersion(),
                m.docString(), m.metadata(), m.graph(), m.baseDirectory(), null);
    }

    @Test
    void opsetsTooOldAndTooNew() {
        refusedEverywhere(ErrorCode.UNSUPPORTED_OP, "opset 1", edited("mlp_k2_p0.onnx", m -> withOpset(m, 1)));
        refusedEverywhere(ErrorCode.UNSUPPORTED_OP, "opset 99", edited("mlp_k2_p0.onnx", m -> withOpset(m, 99)));
    }

    @Test
    void aStringGraphInput() {
        Path p = edited("mlp_k2_p0.onnx", m -> {
            Graph g = m.graph();
            ValueInfo in = g.inputs().get(0);
            ValueInfo text = in.withTensorType(new TensorType(DataType.STRING, in.tensorType().shape()));
            return m.withGraph(g.toBuilder().inputs(List.of(text)).build());
        });
        refusedEverywhere(ErrorCode.UNSUPPORTED_OP, "is STRING", p);
    }

    @Test
    void aSparseInitializerWithAnIndexOutsideItsShape() throws java.io.IOException {
        ai.onnx.proto.OnnxMl.ModelProto proto = ai.onnx.proto.OnnxMl.ModelProto.parseFrom(
                Files.readAllBytes(Fixtures.model("mlp_k2_p0.onnx")));
        ai.onnx.proto.OnnxMl.GraphProto.Builder g = proto.getGraph().toBuilder();
        String bias = g.getNodeList().stream().filter(n -> n.getOpType().equals("Gemm")).findFirst().orElseThrow()
                .getInput(2);
        int at = g.getInitializerList().stream().map(ai.onnx.proto.OnnxMl.TensorProto::getName).toList().indexOf(bias);
        long width = g.getInitializer(at).getDims(0);
        g.removeInitializer(at);
        ai.onnx.proto.OnnxMl.TensorProto values = ai.onnx.proto.OnnxMl.TensorProto.newBuilder().setName(bias)
                .setDataType(ai.onnx.proto.OnnxMl.TensorProto.DataType.FLOAT_VALUE).addDims(1).addFloatData(1f).build();
        ai.onnx.proto.OnnxMl.TensorProto indices = ai.onnx.proto.OnnxMl.TensorProto.newBuilder().setName(bias + "_i")
                .setDataType(ai.onnx.proto.OnnxMl.TensorProto.DataType.INT64_VALUE).addDims(1).addInt64Data(width + 7)
                .build();
        g.addSparseInitializer(ai.onnx.proto.OnnxMl.SparseTensorProto.newBuilder().setValues(values)
                .setIndices(indices).addDims(width));
        Path p = Files.write(dir.resolve("sparse.onnx"), proto.toBuilder().setGraph(g).build().toByteArray());
        refusedEverywhere(ErrorCode.INVALID_MODEL, "index " + (width + 7), p);
    }
}
