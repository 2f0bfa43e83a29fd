package org.onnxfuse.fusion.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.plan.TestNets.Net;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/** Neuron spaces, bindings and joins of networks that are not one chain, built node by node. */
class DagPlannerTest {
    private static Net add(Net net, String name, String a, String b) {
        return net.node(Node.of(name, "Add", List.of(a, b), List.of(name + "_out")));
    }

    private static Net concat(Net net, String name, String... inputs) {
        return net.node(Node.of(name, "Concat", List.of(inputs), List.of(name + "_out"), Attribute.ofLong("axis", 1)));
    }

    /** stem -> block with a 1x1 stride-2 projection shortcut -> block with an identity shortcut -> head. */
    private static Net resnet() {
        Net net = Net.input("batch", 1, 8, 8).conv("stem", 1, 4, 3, false, Attribute.ofLongs("pads", 1, 1, 1, 1))
                .batchNorm("stem_bn", 4).op("r0", "Relu");
        String x = net.value();
        net.conv("b1c1", 4, 8, 3, false, Attribute.ofLongs("pads", 1, 1, 1, 1), Attribute.ofLongs("strides", 2, 2))
                .batchNorm("b1bn1", 8).op("b1r", "Relu").conv("b1c2", 8, 8, 3, false,
                        Attribute.ofLongs("pads", 1, 1, 1, 1)).batchNorm("b1bn2", 8);
        String branch = net.value();
        net.at(x).conv("b1sc", 4, 8, 1, false, Attribute.ofLongs("strides", 2, 2)).batchNorm("b1scbn", 8);
        add(net, "b1add", branch, net.value()).op("b1out", "Relu");
        String y = net.value();
        net.conv("b2c1", 8, 8, 3, false, Attribute.ofLongs("pads", 1, 1, 1, 1)).op("b2r", "Relu")
                .conv("b2c2", 8, 8, 3, false, Attribute.ofLongs("pads", 1, 1, 1, 1));
        add(net, "b2add", net.value(), y).op("b2out", "Relu");
        return net.op("gap", "GlobalAveragePool").op("flat", "Flatten").gemm("fc", 8, 3, true, true);
    }

    /** Conv c -> Relu, gated by sigmoid(fc2(relu(fc1(pool(x))))): a squeeze-excitation gate 'gate' (Mul). */
    private static Net gated() {
        Net net = Net.input("batch", 1, 6, 6).conv("c", 1, 4, 3, true, Attribute.ofLongs("pads", 1, 1, 1, 1))
                .op("r", "Relu");
        String x = net.value();
        net.op("pool", "GlobalAveragePool").conv("fc1", 4, 2, 1, true).op("r1", "Relu").conv("fc2", 2, 4, 1, true)
                .op("sig", "Sigmoid");
        return net.node(Node.of("gate", "Mul", List.of(x, net.value()), List.of("gate_out")));
    }

    private static Level level(LevelPlan p, String affine) {
        return p.levels().stream().filter(l -> l.affine().name().equals(affine)).findFirst().orElseThrow();
    }

    @Test
    void residualBlocksTieTheirStreamIntoOneSpace() {
        LevelPlan p = resnet().plan();
        assertEquals(7, p.levels().size());
        NeuronSpace stream = p.space(level(p, "b1c2").space());
        assertEquals(stream, p.space(level(p, "b1sc").space()));
        assertEquals(stream, p.space(level(p, "b2c2").space()));
        assertEquals(List.of(level(p, "b1c2"), level(p, "b1sc"), level(p, "b2c2")).stream().map(Level::index)
                .sorted().toList(), stream.levels());
        assertEquals(java.util.Set.of("b1bn2_out", "b1scbn_out", "b1add_out", "b2c2_out", "b2add_out"),
                java.util.Set.copyOf(stream.cuts()));
        assertEquals("b2add_out", stream.cuts().get(4));
        assertTrue(stream.shared());
        for (String alone : List.of("stem", "b1c1", "b2c1", "fc")) {
            assertFalse(p.space(level(p, alone).space()).shared(), alone);
        }
        assertEquals(5, p.spaces().size());
        assertEquals(List.of(level(p, "stem").space()), level(p, "b1sc").binding().spaces(),
                "the shortcut reads the stem's space");
        assertEquals(new InputLayout(1, 1), level(p, "b1sc").binding().layout());
        assertEquals(new InputLayout(1, 9), level(p, "b1c1").binding().layout());
        assertEquals(List.of(stream.id()), level(p, "fc").binding().spaces());
        assertEquals("b1bn2", level(p, "b1c2").foldedNorm().name());
        assertEquals(List.of("Add", "Add"), p.joins().stream().map(LevelOp::opType).toList());
        assertEquals(List.of("Relu", "GlobalAveragePool", "Flatten"), level(p, "fc").ops().stream()
                .map(LevelOp::opType).toList());
        assertTrue(level(p, "fc").last());
        assertEquals(level(p, "fc"), p.lastLevel());
        assertFalse(p.sequential());
    }

    @Test
    void residualBlocksAreTheSegmentsFromTheAddsDominatorToTheAdd() {
        // the values closest to each Add (inside its branches) do not dominate it; the stream value before the block does
        LevelPlan p = resnet().plan();
        List<Integer> first = List.of(level(p, "b1c1"), level(p, "b1c2"), level(p, "b1sc")).stream()
                .map(Level::index).sorted().toList();
        List<Integer> second = List.of(level(p, "b2c1").index(), level(p, "b2c2").index());
        assertEquals(List.of(new ResidualBlock("r0_out", "b1add_out", first),
                new ResidualBlock("b1out_out", "b2add_out", second)), p.blocks());
        assertEquals(List.of(p.blocks().get(1)), p.blocksEndingAt(second.get(1)));
        assertTrue(p.inBlock(level(p, "b1sc").index()));
        assertFalse(p.inBlock(level(p, "stem").index()));
        assertFalse(p.inBlock(level(p, "fc").index()));
    }

    @Test
    void joinsThatAreNotResidualAddsMakeNoBlocks() {
        // a Concat (dense) and a gate Mul (squeeze-excitation) join branches but close no residual block
        Net cat = Net.input("batch", 1, 6, 6).conv("stem", 1, 4, 3, true, Attribute.ofLongs("pads", 1, 1, 1, 1));
        String x = cat.value();
        cat.op("r1", "Relu").conv("c1", 4, 2, 3, true, Attribute.ofLongs("pads", 1, 1, 1, 1));
        concat(cat, "cat", x, cat.value()).op("f", "Flatten").gemm("fc", 216, 3, true, true);
        assertEquals(List.of(), cat.plan().blocks());
        assertEquals(List.of(), gated().op("f", "Flatten").gemm("fc", 144, 3, true, true).plan().blocks());
    }

    @Test
    void concatStacksItsInputsSpacesAtTheirOffsets() {
        Net net = Net.input("batch", 1, 6, 6).conv("stem", 1, 4, 3, true, Attribute.ofLongs("pads", 1, 1, 1, 1));
        String x = net.value();
        net.op("r1", "Relu").conv("c1", 4, 2, 3, true, Attribute.ofLongs("pads", 1, 1, 1, 1));
        concat(net, "cat", x, net.value()).op("r2", "Relu").conv("t", 6, 5, 1, true).op("f", "Flatten")
                .gemm("fc", 180, 3, true, true);
        LevelPlan p = net.plan();
        assertEquals(List.of(0), p.level(2).binding().spaces());
        assertEquals(List.of(0, 1), p.level(3).binding().spaces());
        assertEquals(new InputLayout(1, 1), p.level(3).binding().layout());
        assertEquals(List.of(2), p.level(4).binding().spaces());
        assertEquals(new InputLayout(1, 36), p.level(4).binding().layout());
        assertEquals(List.of("Concat"), p.joins().stream().map(LevelOp::opType).toList());
        assertEquals(4, p.spaces().size());
        assertTrue(p.spaces().stream().noneMatch(NeuronSpace::shared));
        assertEquals(List.of(0, 1), p.level(3).ops().get(0).spaces(), "the Relu after the Concat holds both spaces");
        assertEquals(181, p.level(4).fanIn());
    }

    @Test
    void depthwiseConvIsTiedToItsInputsSpace() {
        Net net = Net.input("batch", 1, 6, 6).conv("expand", 1, 4, 1, true).op("r1", "Relu")
                .conv("dw", 1, 4, 3, true, Attribute.ofLong("group", 4), Attribute.ofLongs("pads", 1, 1, 1, 1))
                .op("r2", "Relu").conv("project", 4, 2, 1, true).op("f", "Flatten").gemm("fc", 72, 3, true, true);
        LevelPlan p = net.plan();
        assertTrue(p.level(2).depthwise());
        assertEquals(10, p.level(2).fanIn(), "one channel's 3x3 kernel and the bias");
        assertEquals(p.level(1).space(), p.level(2).space());
        assertEquals(List.of("expand_out", "dw_out"), p.space(0).cuts());
        assertEquals(List.of(0), p.level(3).binding().spaces());
    }

    @Test
    void squeezeExcitationGateTiesTheGateToTheStream() {
        LevelPlan p = gated().op("f", "Flatten").gemm("fc", 144, 3, true, true).plan();
        assertEquals(p.level(1).space(), p.level(3).space(), "fc2 writes the gate of c's channels");
        assertEquals(List.of("c_out", "fc2_out", "gate_out"), p.space(p.level(1).space()).cuts());
        assertEquals(List.of(0), p.level(2).binding().spaces());
        assertEquals(List.of("Sigmoid", "Mul"), p.joins().stream().map(LevelOp::opType).toList());
    }

    @Test
    void aChannelShuffleBeforeAJoinIsRefusedByName() {
        Net net = Net.input("batch", 1, 4, 4).conv("c", 1, 4, 1, true);
        String x = net.value();
        net.initializer(Tensor.ofLongs("split", new long[] {5}, new long[] {0, 2, 2, 4, 4}));
        net.initializer(Tensor.ofLongs("merge", new long[] {4}, new long[] {0, 4, 4, 4}));
        net.op("r1", "Reshape", List.of("split")).op("t", "Transpose", Attribute.ofLongs("perm", 0, 2, 1, 3, 4))
                .op("r2", "Reshape", List.of("merge"));
        add(net, "join", net.value(), x);
        UnsupportedOpException e = assertThrows(UnsupportedOpException.class,
                () -> net.op("f", "Flatten").gemm("fc", 64, 3, true, true).plan());
        assertTrue(e.getMessage().startsWith("constructs in this model that onnx-fuse does not fuse yet: channel shuffle"
                + " (Reshape, Transpose, Reshape) at 't'"), e.getMessage());
        assertTrue(e.getMessage().contains("(the planner stopped first at node 'join' (Add) cannot be placed in a level"
                + " (its input 'r2_out' had its neurons rearranged by a Reshape or Transpose"), e.getMessage());
    }

    @Test
    void anAuxiliaryHeadIsASecondLevelOfClasses() {
        Net net = Net.input("batch", 1, 6, 6).conv("c1", 1, 4, 3, true).op("r1", "Relu");
        String features = net.value();
        net.op("auxpool", "GlobalAveragePool").op("auxflat", "Flatten").gemm("aux", 4, 3, true, true);
        String aux = net.value();
        net.at(features).conv("c2", 4, 6, 3, true).op("r2", "Relu").op("f", "Flatten").gemm("fc", 24, 3, true, true)
                .alsoOutput(aux);
        LevelPlan p = net.plan();
        assertEquals("fc_out", p.output());
        assertEquals(List.of(false, false, true, true), List.of(level(p, "c1").last(), level(p, "c2").last(),
                level(p, "aux").last(), level(p, "fc").last()));
        assertEquals(level(p, "fc"), p.lastLevel());
        assertEquals(List.of(level(p, "fc").index(), level(p, "aux").index()), p.heads().stream()
                .map(OutputHead::classLevel).toList());
        assertEquals("aux_out", p.heads().get(1).output());
        assertTrue(PlanFormatter.table("aux", p, false).contains("    'aux_out' [batch, 3]: classes of level "
                + level(p, "aux").index()), PlanFormatter.table("aux", p, false));
    }

    @Test
    void aFeaturesOutputIsFusedLikeACut() {
        Net net = Net.input("batch", 1, 6, 6).conv("c1", 1, 4, 3, true).op("r1", "Relu").op("pool",
                "GlobalAveragePool").op("flat", "Flatten");
        String features = net.value();
        LevelPlan p = net.gemm("fc", 4, 3, true, true).alsoOutput(features).plan();
        assertEquals(List.of(2, 0), p.heads().stream().map(OutputHead::classLevel).toList());
        assertEquals(List.of("Relu", "GlobalAveragePool", "Flatten"), p.level(2).ops().stream().map(LevelOp::opType)
                .toList());
    }

    @Test
    void theClassesMayNotJoinOtherActivations() {
        Net net = Net.input("batch", 4).gemm("fc1", 4, 3, true, true);
        String h = net.value();
        net.op("r", "Relu").gemm("fc2", 3, 3, true, true);
        UnsupportedOpException e = assertThrows(UnsupportedOpException.class,
                () -> add(net, "sum", net.value(), h).plan());
        assertTrue(e.getMessage().startsWith("no model output ('sum_out') comes from a Gemm"), e.getMessage());
    }

    @Test
    void jsonListsSpacesOutputsAndEachLevelsSpace() throws Exception {
        JsonNode j = new ObjectMapper().readTree(PlanFormatter.toText(PlanFormatter.json("resnet", resnet().plan())));
        assertEquals(5, j.get("spaces").size());
        LevelPlan p = resnet().plan();
        Level shortcut = level(p, "b1sc");
        JsonNode stream = j.get("spaces").get(shortcut.space());
        assertEquals(p.space(shortcut.space()).levels().toString().replace(" ", ""), stream.get("levels").toString());
        assertTrue(stream.get("shared").asBoolean());
        assertEquals(8, stream.get("width").asInt());
        JsonNode level = j.get("levels").get(shortcut.index() - 1);
        assertEquals(shortcut.space(), level.get("space").asInt());
        assertEquals("[" + level(p, "stem").space() + "]", level.get("reads").toString());
        assertEquals("linear, shared grouping", level.get("variant").asText());
        assertEquals("Conv", level.get("op").asText());
        assertEquals(1, j.get("outputs").size());
        String table = PlanFormatter.table("resnet", p, false);
        assertTrue(table.contains("    " + shortcut.index() + ": space " + level(p, "stem").space()
                + "; linear, shared grouping"), table);
        JsonNode block = j.get("blocks").get(1);
        assertEquals("b1out_out", block.get("input").asText());
        assertEquals("b2add_out", block.get("output").asText());
        assertEquals(p.blocks().get(1).levels().toString().replace(" ", ""), block.get("levels").toString());
        assertTrue(table.contains("    'b1out_out' -> 'b2add_out': levels " + level(p, "b2c1").index() + ", "
                + level(p, "b2c2").index() + "\n"), table);
    }
}
