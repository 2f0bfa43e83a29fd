package org.onnxfuse.onnx.ir;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * An ONNX model: header fields, opset imports, metadata and the main graph. {@code metadata}
 * keeps {@code metadata_props} in file order. {@code baseDirectory} is the folder the model was
 * read from (external data is resolved there); null for models built in code.
 */
public record Model(long irVersion, List<OpsetImport> opsetImports, String producerName, String producerVersion,
                    String domain, long modelVersion, String docString, Map<String, String> metadata, Graph graph,
                    Path baseDirectory, ProtoOrigin origin) {
    public Model {
        opsetImports = List.copyOf(opsetImports);
        producerName = producerName == null ? "" : producerName;
        producerVersion = producerVersion == null ? "" : producerVersion;
        domain = domain == null ? "" : domain;
        docString = docString == null ? "" : docString;
        metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
        Objects.requireNonNull(graph, "graph");
    }

    /** A fresh model around {@code graph} for the default domain at {@code opset}. */
    public static Model of(Graph graph, long opset) {
        return new Model(8, List.of(new OpsetImport("", opset)), "onnx-fuse", "", "", 0, "", Map.of(), graph, null, null);
    }

    /** Version of the default ONNX domain this model imports, or -1 when absent. */
    public long defaultOpset() {
        return opsetImports.stream().filter(OpsetImport::isDefaultDomain).mapToLong(OpsetImport::version).findFirst()
                .orElse(-1);
    }

    public Model withGraph(Graph newGraph) {
        return new Model(irVersion, opsetImports, producerName, producerVersion, domain, modelVersion, docString,
                metadata, newGraph, baseDirectory, origin);
    }

    public Model withMetadata(Map<String, String> newMetadata) {
        return new Model(irVersion, opsetImports, producerName, producerVersion, domain, modelVersion, docString,
                newMetadata, graph, baseDirectory, origin);
    }

    public Model withProducer(String name, String version) {
        return new Model(irVersion, opsetImports, name, version, domain, modelVersion, docString, metadata, graph,
                baseDirectory, origin);
    }
}
