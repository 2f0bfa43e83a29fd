package org.onnxfuse.fusion.plan;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/** Transposes [1, 0, 2] moved through the ops on the last axis: a transformer run tokens first becomes batch first. */
class BatchAxisTransposesTest {
    private static final Attribute SWAP = Attribute.ofLongs("perm", 1, 0, 2);

    @Test
    void aSwapCarriedThroughTheLayersFoldsIntoTheMeanOverTheTokens() {
        // an embedding, x.transpose(0, 1), a pre-LayerNorm residual layer tokens first (opset-13 LayerNorm, Linear,
        // Relu), mean over axis 0, a head
        TestNets.Net net = TestNets.Net.input("batch", 5, 8).matmul("embed", 8, 8, true).op("swap", "Transpose", SWAP);
        String stream = net.value();
        net.layerNormDecomposed("ln", 8).matmul("fc", 8, 8, true).op("act", "Relu");
        net.node(Node.of("residual", "Add", List.of(stream, net.value()), List.of("residual_out")));
        net.op("mean", "ReduceMean", Attribute.ofLongs("axes", 0), Attribute.ofLong("keepdims", 0))
                .matmul("head", 8, 3, false);
        Graph g = BatchAxisTransposes.sink(net.graph());
        assertTrue(g.nodes().stream().noneMatch(n -> n.opType().equals("Transpose")), g.nodes().toString());
        Node mean = node(g, "mean");
        assertArrayEquals(new long[] {1}, mean.longsAttribute("axes", null), "the tokens are axis 1 now");
        assertEquals(List.of("embed_add_out"), node(g, "ln/mean").inputs());
        assertTrue(node(g, "residual").inputs().contains("embed_add_out"));
        assertEquals(3, LevelPlanner.plan(Model.of(g, 13)).levels().size(), "the layer plans batch first");
    }

    @Test
    void aSwapTakenBackCancelsAndTheFirstTokenIsGatheredAlongAxisOne() {
        TestNets.Net net = TestNets.Net.input("batch", 5, 8).op("swap", "Transpose", SWAP).op("act", "Relu");
        String tokensFirst = net.value();
        net.op("back", "Transpose", SWAP).matmul("fc", 8, 4, false);
        net.initializer(Tensor.ofLongs("zero", new long[0], new long[] {0}));
        net.at(tokensFirst).op("first", "Gather", List.of("zero"), Attribute.ofLong("axis", 0));
        Graph g = BatchAxisTransposes.sink(net.alsoOutput("fc_out").graph());
        assertTrue(g.nodes().stream().noneMatch(n -> n.opType().equals("Transpose")), g.nodes().toString());
        assertEquals(node(g, "act").outputs().get(0), node(g, "fc").inputs().get(0), "the two swaps cancel");
        assertEquals(1, node(g, "first").longAttribute("axis", 0));
        assertEquals(List.of("input"), node(g, "act").inputs());
    }

    @Test
    void aSwapBeforeAnOpAcrossTheTokensStays() {
        // Softmax over axis 0 mixes the tokens: nothing moves
        Graph before = TestNets.Net.input("batch", 5, 8).op("swap", "Transpose", SWAP)
                .op("softmax", "Softmax", Attribute.ofLong("axis", 0)).graph();
        Graph after = BatchAxisTransposes.sink(before);
        assertSame(node(before, "swap"), node(after, "swap"));
        assertEquals(before.nodes(), after.nodes());
    }

    private static Node node(Graph g, String name) {
        return g.nodes().stream().filter(n -> n.name().equals(name)).findFirst().orElseThrow(() ->
                new AssertionError("no node " + name + " in " + g.nodes()));
    }
}
