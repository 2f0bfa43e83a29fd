package org.onnxfuse.fusion.ops;

import java.util.List;
import java.util.Optional;
import org.onnxfuse.onnx.ir.Node;

/**
 * An elementwise activation that exporters write as several nodes, two of which read the
 * activation x (e.g. x * sigmoid(x)): x feeds exactly those two nodes, in either order.
 */
abstract class ActivationPattern implements OpPattern {
    private final String opType;
    private final String displayName;

    ActivationPattern(String opType, String displayName) {
        this.opType = opType;
        this.displayName = displayName;
    }

    @Override
    public final String opType() {
        return opType;
    }

    @Override
    public final OpRole role() {
        return OpRole.ELEMENTWISE;
    }

    @Override
    public final String displayName() {
        return displayName;
    }

    @Override
    public final Optional<PatternMatch> match(String x, GraphView g) {
        List<Node> readers = g.consumers(x);
        if (readers.size() != 2 || g.isGraphOutput(x)) {
            return Optional.empty();
        }
        for (int i = 0; i < 2; i++) {
            Optional<PatternMatch> m = match(x, readers.get(i), readers.get(1 - i), g);
            if (m.isPresent()) {
                return m;
            }
        }
        return Optional.empty();
    }

    /** The pattern when {@code entry} starts it and {@code other} is x's second reader. */
    abstract Optional<PatternMatch> match(String x, Node entry, Node other, GraphView g);
}
