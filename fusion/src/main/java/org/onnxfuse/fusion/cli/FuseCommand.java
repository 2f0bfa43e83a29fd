package org.onnxfuse.fusion.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;

/** Placeholder so the CLI compiles; the lead replaces it with the real fuse command. */
@Command(name = "onnx-fuse")
public final class FuseCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        return 0;
    }
}
