package org.onnxfuse.onnx.ir;

import java.util.Objects;

/** One entry of a model's {@code opset_import}: the empty domain is the default ONNX domain. */
public record OpsetImport(String domain, long version) {
    public OpsetImport {
        Objects.requireNonNull(domain, "domain");
    }

    public boolean isDefaultDomain() {
        return domain.isEmpty() || domain.equals("ai.onnx");
    }
}
