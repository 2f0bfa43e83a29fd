package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Libraries are loaded ahead only for commands that fuse (or diagnose), never for help, the version or a plan. */
class StartupTest {
    @Test
    void fusingCommandsPreload() {
        assertTrue(Startup.worthPreloading(List.of("a.onnx", "b.onnx", "--data", "x.npy", "-o", "f.onnx")));
        assertTrue(Startup.worthPreloading(List.of("run", "config.yaml")));
        assertTrue(Startup.worthPreloading(List.of("diagnose")));
    }

    @Test
    void helpVersionAndPlanDoNot() {
        assertFalse(Startup.worthPreloading(List.of()));
        assertFalse(Startup.worthPreloading(List.of("--help")));
        assertFalse(Startup.worthPreloading(List.of("a.onnx", "-h")));
        assertFalse(Startup.worthPreloading(List.of("--version")));
        assertFalse(Startup.worthPreloading(List.of("-V")));
        assertFalse(Startup.worthPreloading(List.of("plan", "a.onnx")));
    }
}
