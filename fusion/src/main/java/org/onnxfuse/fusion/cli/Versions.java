package org.onnxfuse.fusion.cli;

/** The tool's version, as printed by --version and written into reports. */
final class Versions {
    static final String ONNX_FUSE = "0.1.0-SNAPSHOT";

    private Versions() {
    }
}
