package org.onnxfuse.fusion.plan;

import java.util.List;
import org.onnxfuse.onnx.ir.Dim;

/**
 * One output of the model as the plan sees it: the classes of a level (logits, an auxiliary
 * head), which are never grouped, or activations of a neuron space (features), fused like any cut.
 *
 * @param output     the graph output's name
 * @param shape      its shape as planned
 * @param trailing   the ops between the level or space it comes from and the output, in order
 * @param classLevel the index of the level whose classes it carries, or 0 for features
 */
public record OutputHead(String output, List<Dim> shape, List<LevelOp> trailing, int classLevel) {
    public OutputHead {
        shape = List.copyOf(shape);
        trailing = List.copyOf(trailing);
    }

    public boolean carriesClasses() {
        return classLevel > 0;
    }
}
