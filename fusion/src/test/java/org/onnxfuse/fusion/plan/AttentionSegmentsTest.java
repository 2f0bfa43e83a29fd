package org.onnxfuse.fusion.plan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.fusion.ops.AttentionPattern;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.ir.Model;

/**
 * When no training segment holds an attention block (test-models/models/mha/cross_separate_kv_op17.onnx
 * read as if its key projection were no level, so that a path back from the block's residual Add
 * reaches the model input through the keys' stream and its embedding), the plan names the Add, its
 * attention and the node that leaves the block, and `plan` prints it.
 */
class AttentionSegmentsTest {

    @Test
    void anAttentionBlockNoSegmentHoldsIsNamedWithTheNodeThatLeavesIt() {
        Model m = ConstantFolding.fold(Fixtures.read("mha/cross_separate_kv_op17.onnx"));
        LevelPlan p = LevelPlanner.plan(m);
        assertEquals(List.of(4, 5, 6, 7), p.blocks().get(0).levels());
        // without level 6 (the keys) the keys' path back passes no projection input and reaches the model input
        List<Level> levels = p.levels().stream().filter(l -> l.index() != 6).toList();
        ResidualBlock.Found found = ResidualBlock.find(m.graph(), levels, p.joins(),
                AttentionPattern.find(new GraphView(m.graph())));
        assertEquals(List.of(List.of(8, 9)), found.blocks().stream().map(ResidualBlock::levels).toList());
        assertEquals(1, found.unsegmented().size());
        String why = found.unsegmented().get(0);
        assertTrue(why.startsWith("residual Add '/Add' (Add) after the attention at '")
                && why.contains("reads the model input 'input' on a path that passes neither the stream '"
                + p.blocks().get(0).input() + "'") && why.endsWith("so no training segment holds the block"), why);
        LevelPlan withNote = new LevelPlan(p.inputs(), p.output(), p.outputShape(), p.levels(), p.trailingOps(),
                p.spaces(), p.joins(), p.perNeuron(), p.heads(), found.blocks(), found.unsegmented());
        String text = PlanFormatter.table("cross", withNote, false);
        assertTrue(text.contains("attention blocks no training segment holds (kf-gradient and kf-auto fuse their"
                + " levels without training them together):\n    " + why + "\n"), text);
        assertEquals(why, PlanFormatter.json("cross", withNote).get("unsegmented").get(0).asText());
    }
}
