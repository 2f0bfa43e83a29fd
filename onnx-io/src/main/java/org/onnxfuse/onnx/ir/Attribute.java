package org.onnxfuse.onnx.ir;

import java.util.List;
import java.util.Objects;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;

/**
 * A node attribute. {@code value} holds, by type: FLOAT Float, INT Long, STRING String (UTF-8),
 * TENSOR {@link Tensor}, GRAPH {@link Graph}, FLOATS List&lt;Float&gt;, INTS List&lt;Long&gt;,
 * STRINGS List&lt;String&gt;, TENSORS List&lt;Tensor&gt;, GRAPHS List&lt;Graph&gt;; sparse tensors and type
 * protos are kept only in the origin (value null). {@code refAttrName} is set inside functions.
 */
public record Attribute(String name, AttributeType type, Object value, String docString, String refAttrName,
                        ProtoOrigin origin) {
    public Attribute {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
        docString = docString == null ? "" : docString;
        refAttrName = refAttrName == null ? "" : refAttrName;
        if (value instanceof List<?> list) {
            value = List.copyOf(list);
        }
    }

    public static Attribute ofLong(String name, long v) {
        return new Attribute(name, AttributeType.INT, v, "", "", null);
    }

    public static Attribute ofFloat(String name, float v) {
        return new Attribute(name, AttributeType.FLOAT, v, "", "", null);
    }

    public static Attribute ofString(String name, String v) {
        return new Attribute(name, AttributeType.STRING, v, "", "", null);
    }

    public static Attribute ofLongs(String name, long... v) {
        return new Attribute(name, AttributeType.INTS, java.util.Arrays.stream(v).boxed().toList(), "", "", null);
    }

    public static Attribute ofFloats(String name, float... v) {
        Float[] boxed = new Float[v.length];
        for (int i = 0; i < v.length; i++) {
            boxed[i] = v[i];
        }
        return new Attribute(name, AttributeType.FLOATS, List.of(boxed), "", "", null);
    }

    public static Attribute ofTensor(String name, Tensor t) {
        return new Attribute(name, AttributeType.TENSOR, t, "", "", null);
    }

    public long asLong() {
        expect(AttributeType.INT);
        return (Long) value;
    }

    public float asFloat() {
        expect(AttributeType.FLOAT);
        return (Float) value;
    }

    public String asString() {
        expect(AttributeType.STRING);
        return (String) value;
    }

    public Tensor asTensor() {
        expect(AttributeType.TENSOR);
        return (Tensor) value;
    }

    public Graph asGraph() {
        expect(AttributeType.GRAPH);
        return (Graph) value;
    }

    @SuppressWarnings("unchecked")
    public long[] asLongs() {
        expect(AttributeType.INTS);
        return ((List<Long>) value).stream().mapToLong(Long::longValue).toArray();
    }

    @SuppressWarnings("unchecked")
    public float[] asFloats() {
        expect(AttributeType.FLOATS);
        List<Float> list = (List<Float>) value;
        float[] out = new float[list.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = list.get(i);
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    public List<String> asStrings() {
        expect(AttributeType.STRINGS);
        return (List<String>) value;
    }

    @SuppressWarnings("unchecked")
    public List<Graph> asGraphs() {
        expect(AttributeType.GRAPHS);
        return (List<Graph>) value;
    }

    private void expect(AttributeType wanted) {
        if (type != wanted) {
            throw wrongType(wanted);
        }
    }

    /** INVALID_MODEL: this attribute holds {@code type} where {@code wanted} is expected. */
    ModelFormatException wrongType(AttributeType wanted) {
        return new ModelFormatException(ErrorCode.INVALID_MODEL, "attribute '" + name + "': expected " + wanted
                + ", found " + type);
    }
}
