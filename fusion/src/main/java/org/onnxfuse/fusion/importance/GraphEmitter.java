package org.onnxfuse.fusion.importance;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * The nodes and constants a generated graph adds to a model, in the order added, under names in
 * the {@value #PREFIX} namespace so that they cannot clash with the model's own.
 */
final class GraphEmitter {
    static final String PREFIX = "onnxfuse_tmp/";

    private final List<Node> nodes = new ArrayList<>();
    private final List<Tensor> constants = new ArrayList<>();
    private int counter;

    List<Node> nodes() {
        return Collections.unmodifiableList(nodes);
    }

    List<Tensor> constants() {
        return Collections.unmodifiableList(constants);
    }

    private String fresh(String what) {
        return PREFIX + (counter++) + "/" + what;
    }

    /** Adds a node of the default domain and returns its single output. */
    String emit(String opType, List<String> inputs, Attribute... attributes) {
        Map<String, Attribute> map = new LinkedHashMap<>();
        for (Attribute a : attributes) {
            map.put(a.name(), a);
        }
        String out = fresh(opType);
        nodes.add(new Node(PREFIX + "node/" + (counter++), opType, "", inputs, List.of(out), map, "", null));
        return out;
    }

    /** Adds a node of the default domain with {@code outputs} outputs and returns their names. */
    List<String> emitOutputs(String opType, List<String> inputs, Map<String, Attribute> attributes, int outputs) {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < outputs; i++) {
            names.add(fresh(opType + "_" + i));
        }
        nodes.add(new Node(PREFIX + "node/" + (counter++), opType, "", inputs, names, attributes, "", null));
        return names;
    }

    /** Adds the sum of {@code parts} (an Identity for one) under the given output name. */
    void sumAs(String output, List<String> parts, String nodeName) {
        nodes.add(new Node(PREFIX + nodeName, parts.size() == 1 ? "Identity" : "Sum", "", parts, List.of(output),
                Map.of(), "", null));
    }

    String scalar(float value) {
        return constant(new long[0], new float[] {value});
    }

    String constant(long[] dims, float[] values) {
        String name = fresh("const");
        constants.add(Tensor.ofFloats(name, dims, values));
        return name;
    }

    /** A 1-d int64 constant. */
    String longs(long... values) {
        String name = fresh("const");
        constants.add(Tensor.ofLongs(name, new long[] {values.length}, values));
        return name;
    }
}
