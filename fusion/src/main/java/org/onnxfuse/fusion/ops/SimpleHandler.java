package org.onnxfuse.fusion.ops;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/** A handler assembled from a shape rule and a signature rule (every non-affine op). */
final class SimpleHandler implements OpHandler {
    @FunctionalInterface
    interface ShapeRule {
        List<Dim> apply(Node node, List<Dim> input, GraphView graph);
    }

    @FunctionalInterface
    interface SignatureRule {
        Map<String, String> apply(Node node, GraphView graph);
    }

    static final ShapeRule SAME_SHAPE = (node, input, graph) -> input;
    static final SignatureRule NO_SIGNATURE = (node, graph) -> Map.of();

    private final String domain;
    private final String opType;
    private final long sinceOpset;
    private final OpRole role;
    private final String displayName;
    private final ShapeRule shape;
    private final SignatureRule signature;

    SimpleHandler(String domain, String opType, long sinceOpset, OpRole role, String displayName, ShapeRule shape,
                  SignatureRule signature) {
        this.domain = domain;
        this.opType = opType;
        this.sinceOpset = sinceOpset;
        this.role = role;
        this.displayName = displayName == null ? opType : displayName;
        this.shape = Objects.requireNonNull(shape);
        this.signature = Objects.requireNonNull(signature);
    }

    static SimpleHandler of(String opType, OpRole role, ShapeRule shape, SignatureRule signature) {
        return new SimpleHandler("", opType, 1, role, null, shape, signature);
    }

    @Override
    public String domain() {
        return domain;
    }

    @Override
    public String opType() {
        return opType;
    }

    @Override
    public long sinceOpset() {
        return sinceOpset;
    }

    @Override
    public OpRole role() {
        return role;
    }

    @Override
    public String displayName() {
        return displayName;
    }

    @Override
    public List<Dim> outputShape(Node node, List<Dim> input, GraphView graph) {
        return shape.apply(node, input, graph);
    }

    @Override
    public Map<String, String> signature(Node node, GraphView graph) {
        return signature.apply(node, graph);
    }
}
