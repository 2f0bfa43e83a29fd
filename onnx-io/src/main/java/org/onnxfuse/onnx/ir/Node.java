package org.onnxfuse.onnx.ir;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.stream.Stream;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;

/**
 * One operator application. Inputs and outputs are value names; an empty input name is an
 * omitted optional input. Attributes keep their file order.
 */
public record Node(String name, String opType, String domain, List<String> inputs, List<String> outputs,
                   Map<String, Attribute> attributes, String docString, ProtoOrigin origin) {
    public Node {
        Objects.requireNonNull(opType, "opType");
        name = name == null ? "" : name;
        domain = domain == null ? "" : domain;
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
        attributes = Collections.unmodifiableMap(new LinkedHashMap<>(attributes));
        docString = docString == null ? "" : docString;
    }

    public static Node of(String name, String opType, List<String> inputs, List<String> outputs, Attribute... attributes) {
        Map<String, Attribute> map = new LinkedHashMap<>();
        for (Attribute a : attributes) {
            map.put(a.name(), a);
        }
        return new Node(name, opType, "", inputs, outputs, map, "", null);
    }

    public Optional<Attribute> attribute(String attributeName) {
        return Optional.ofNullable(attributes.get(attributeName));
    }

    public long longAttribute(String attributeName, long fallback) {
        Attribute a = typed(attributeName, AttributeType.INT);
        return a == null ? fallback : a.asLong();
    }

    public float floatAttribute(String attributeName, float fallback) {
        Attribute a = typed(attributeName, AttributeType.FLOAT);
        return a == null ? fallback : a.asFloat();
    }

    public long[] longsAttribute(String attributeName, long[] fallback) {
        Attribute a = typed(attributeName, AttributeType.INTS);
        return a == null ? fallback : a.asLongs();
    }

    public String stringAttribute(String attributeName, String fallback) {
        Attribute a = typed(attributeName, AttributeType.STRING);
        return a == null ? fallback : a.asString();
    }

    /** The attribute, null when absent; INVALID_MODEL naming this node when it has another type. */
    private Attribute typed(String attributeName, AttributeType expected) {
        Attribute a = attributes.get(attributeName);
        if (a != null && a.type() != expected) {
            throw new ModelFormatException(ErrorCode.INVALID_MODEL, "node " + describe() + ": "
                    + a.wrongType(expected).getMessage());
        }
        return a;
    }

    public boolean isDefaultDomain() {
        return domain.isEmpty() || domain.equals("ai.onnx");
    }

    /** Sub-graphs held in GRAPH/GRAPHS attributes (If, Loop, Scan bodies). */
    public Stream<Graph> subgraphs() {
        return attributes.values().stream().flatMap(a -> switch (a.type()) {
            case GRAPH -> Stream.of(a.asGraph());
            case GRAPHS -> a.asGraphs().stream();
            default -> Stream.empty();
        });
    }

    /** "name (OpType)", or "#index OpType" style callers may use when the name is empty. */
    public String describe() {
        return (name.isEmpty() ? "<unnamed>" : name) + " (" + opType + ")";
    }

    public Node withInputs(List<String> newInputs) {
        return new Node(name, opType, domain, newInputs, outputs, attributes, docString, origin);
    }

    public Node withOutputs(List<String> newOutputs) {
        return new Node(name, opType, domain, inputs, newOutputs, attributes, docString, origin);
    }

    public Node withAttribute(Attribute attribute) {
        Map<String, Attribute> map = new LinkedHashMap<>(attributes);
        map.put(attribute.name(), attribute);
        return new Node(name, opType, domain, inputs, outputs, map, docString, origin);
    }
}
