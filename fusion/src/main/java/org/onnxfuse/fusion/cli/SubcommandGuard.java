package org.onnxfuse.fusion.cli;

import java.util.stream.Collectors;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Refuses fusion options given before a subcommand ({@code onnx-fuse --data x.npy plan m.onnx}):
 * picocli would parse them for the fuse command and then run only the subcommand, so they would be
 * ignored without a word.
 */
final class SubcommandGuard {
    private SubcommandGuard() {
    }

    static void refuseFusionOptions(CommandSpec subcommand) {
        CommandLine parent = subcommand.commandLine().getParent();
        if (parent == null || parent.getParseResult() == null) {
            return;
        }
        var matched = parent.getParseResult().matchedOptions();
        if (!matched.isEmpty()) {
            String names = matched.stream().map(o -> o.longestName()).distinct().collect(Collectors.joining(", "));
            throw new OnnxFuseException(ErrorCode.USAGE, names + " given before '" + subcommand.name()
                    + "' would be ignored: those options are for fusing; run 'onnx-fuse " + subcommand.name()
                    + " ...' with the subcommand's own options (see 'onnx-fuse " + subcommand.name() + " --help')");
        }
    }
}
