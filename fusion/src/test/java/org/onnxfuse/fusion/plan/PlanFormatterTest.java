package org.onnxfuse.fusion.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.plan.TestNets.Net;

class PlanFormatterTest {
    private static LevelPlan plan() {
        return Net.input("batch", 1, 6, 6).conv("/c/Conv", 1, 4, 3, true).op("/r", "Relu").op("/f", "Flatten")
                .gemm("/fc/Gemm", 64, 3, true, true).op("/sm", "Softmax").plan();
    }

    @Test
    void tableHasOneRowPerLevel() {
        String t = PlanFormatter.table("net.onnx", plan(), false);
        List<String> lines = t.lines().toList();
        assertEquals("net.onnx: input 'input' [batch, 1, 6, 6] -> output '/sm_out' [batch, 3], 2 levels", lines.get(0));
        assertTrue(lines.get(1).matches("\\s+level\\s+ops\\s+affine node\\s+cut\\s+cut shape\\s+axis\\s+width\\s+fan-in"
                + "\\s+last"), lines.get(1));
        assertTrue(lines.get(2).matches("\\s+1\\s+Conv\\s+/c/Conv\\s+/c/Conv_out\\s+\\[batch, 4, 4, 4]\\s+1\\s+4\\s+10"),
                lines.get(2));
        assertTrue(lines.get(3).matches("\\s+2\\s+Relu, Flatten, Gemm\\s+/fc/Gemm\\s+/fc/Gemm_out\\s+\\[batch, 3]\\s+1"
                + "\\s+3\\s+65\\s+yes"), lines.get(3));
        assertEquals("  after the last level: Softmax", lines.get(4));
        assertEquals(5, lines.size());
    }

    @Test
    void verboseTableShowsNodesAndSettings() {
        String t = PlanFormatter.table("net.onnx", plan(), true);
        assertTrue(t.contains("from 'input'; affine input 'input' [batch, 1, 6, 6]; dilations=[1, 1], kernel_shape=[3, 3]"),
                t);
        assertTrue(t.contains("'/f' (Flatten) -> [batch, 64]  axis=1"), t);
        assertTrue(t.contains("after the last level: '/sm' (Softmax)"), t);
    }

    @Test
    void jsonHasModelInputOutputAndLevels() throws Exception {
        JsonNode j = new ObjectMapper().readTree(PlanFormatter.toText(PlanFormatter.json("net.onnx", plan())));
        assertEquals("net.onnx", j.get("model").asText());
        assertEquals("input", j.get("input").get("name").asText());
        assertEquals("[\"batch\",1,6,6]", j.get("input").get("shape").toString());
        assertEquals("/sm_out", j.get("output").get("name").asText());
        JsonNode levels = j.get("levels");
        assertEquals(2, levels.size());
        JsonNode l1 = levels.get(0);
        assertEquals(1, l1.get("index").asInt());
        assertEquals("Conv", l1.get("op").asText());
        assertEquals("[\"Conv\"]", l1.get("ops").toString());
        assertEquals("/c/Conv_out", l1.get("cut").asText());
        assertEquals("[\"batch\",4,4,4]", l1.get("cutShape").toString());
        assertEquals(1, l1.get("neuronAxis").asInt());
        assertEquals(4, l1.get("width").asLong());
        assertEquals(10, l1.get("fanIn").asLong());
        assertEquals("[3, 3]", l1.get("settings").get("kernel_shape").asText());
        assertTrue(levels.get(1).get("last").asBoolean());
        assertEquals("[\"Relu\",\"Flatten\",\"Gemm\"]", levels.get(1).get("ops").toString());
        assertEquals("[\"Softmax\"]", j.get("trailingOps").toString());
        assertEquals("[4,3]", j.get("widths").toString());
    }
}
