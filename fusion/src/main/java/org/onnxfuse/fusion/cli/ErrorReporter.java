package org.onnxfuse.fusion.cli;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.Map;
import org.onnxfuse.fusion.pipeline.LevelMemory;
import org.onnxfuse.kernels.BackendException;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import org.onnxfuse.onnx.errors.TerminalText;
import picocli.CommandLine;

/**
 * The one place where failures become exit codes: an {@link OnnxFuseException} exits with its
 * code's number and prints one line; anything else is an internal error. Stack traces only with
 * {@code --verbose}.
 */
final class ErrorReporter implements CommandLine.IExecutionExceptionHandler, CommandLine.IParameterExceptionHandler {
    /** The one line for a heap that ran out (also printed by {@link Main} for an error picocli passes through). */
    static final String OUT_OF_MEMORY = ErrorCode.NOT_ENOUGH_MEMORY.title() + ": the Java heap ran out ("
            + LevelMemory.size(Runtime.getRuntime().maxMemory()) + "); expected more: give the JVM more heap (java"
            + " -Xmx...), or use fewer parents, a narrower --width or fewer samples (onnx-fuse plan estimates each"
            + " level's memory)";

    @Override
    public int handleExecutionException(Exception ex, CommandLine cli, CommandLine.ParseResult parseResult) {
        PrintWriter err = cli.getErr();
        boolean verbose = isVerbose(parseResult);
        ErrorCode code;
        String message;
        if (ex instanceof OnnxFuseException fuse) {
            code = fuse.code();
            message = fuse.getMessage();
        } else if (ex instanceof BackendException backend) {
            code = ErrorCode.BACKEND;
            message = backend.getMessage();
        } else if (ex.getCause() instanceof OutOfMemoryError) {
            code = ErrorCode.NOT_ENOUGH_MEMORY;
            message = OUT_OF_MEMORY;
        } else {
            code = ErrorCode.INTERNAL;
            message = ex.getClass().getSimpleName() + ": " + ex.getMessage() + "; this is a bug in onnx-fuse,"
                    + " please report it with the command line" + (verbose ? " and this stack trace"
                    : " and the output of the same command with --verbose");
        }
        String line = message.startsWith(code.title()) ? message : code.title() + ": " + message;
        err.println("onnx-fuse: error: " + TerminalText.escape(line));
        if (verbose) {
            ex.printStackTrace(err);
        }
        err.flush();
        return code.exitCode();
    }

    @Override
    public int handleParseException(CommandLine.ParameterException ex, String[] args) {
        CommandLine cli = ex.getCommandLine();
        PrintWriter err = cli.getErr();
        err.println("onnx-fuse: error: " + ErrorCode.USAGE.title() + ": " + TerminalText.escape(ex.getMessage())
                + "; " + hint(ex, cli));
        err.flush();
        return ErrorCode.USAGE.exitCode();
    }

    /** Names other fusion, quantisation and conversion tools use for our options. */
    private static final Map<String, String> OTHER_TOOLS_NAMES = Map.ofEntries(
            Map.entry("--calib", "--data"), Map.entry("--calibration", "--data"),
            Map.entry("--calib-data", "--data"), Map.entry("--calibration-data", "--data"),
            Map.entry("--dataset", "--data"), Map.entry("--input-data", "--data"),
            Map.entry("--out", "-o (--output)"), Map.entry("--output-file", "-o (--output)"),
            Map.entry("--save", "-o (--output)"), Map.entry("--targets", "--labels"),
            Map.entry("--eval", "--eval-data"), Map.entry("--test-data", "--eval-data"),
            Map.entry("--num-samples", "--samples"), Map.entry("--n-samples", "--samples"),
            Map.entry("--gpu", "--device cuda"), Map.entry("--cuda", "--device cuda"),
            Map.entry("--cpu", "--device cpu"), Map.entry("--precision", "--dtype"),
            Map.entry("--fp16", "--dtype float16"), Map.entry("--half", "--dtype float16"),
            Map.entry("--bf16", "--dtype bfloat16"), Map.entry("--random-seed", "--seed"));

    /** picocli's suggestions ("Possible solutions: --data, --labels") on the error's line, or where help is. */
    private static String hint(CommandLine.ParameterException ex, CommandLine cli) {
        if (ex instanceof CommandLine.UnmatchedArgumentException unmatched) {
            for (String arg : unmatched.getUnmatched()) {
                String name = arg.contains("=") ? arg.substring(0, arg.indexOf('=')) : arg;
                String ours = OTHER_TOOLS_NAMES.get(name.toLowerCase(Locale.ROOT));
                if (ours != null) {
                    return "onnx-fuse calls it " + ours;
                }
            }
            if (!unmatched.getSuggestions().isEmpty()) {
                return "possible solutions: " + String.join(", ", unmatched.getSuggestions());
            }
        }
        return "see '" + cli.getCommandSpec().qualifiedName() + " --help'";
    }

    private static boolean isVerbose(CommandLine.ParseResult parseResult) {
        for (CommandLine.ParseResult r = parseResult; r != null; r = r.subcommand()) {
            if (r.hasMatchedOption("--verbose")) {
                return true;
            }
        }
        return false;
    }
}
