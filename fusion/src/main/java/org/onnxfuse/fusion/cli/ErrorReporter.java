package org.onnxfuse.fusion.cli;

import java.io.PrintWriter;
import org.onnxfuse.kernels.BackendException;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import picocli.CommandLine;

/**
 * The one place where failures become exit codes: an {@link OnnxFuseException} exits with its
 * code's number and prints one line; anything else is an internal error. Stack traces only with
 * {@code --verbose}.
 */
final class ErrorReporter implements CommandLine.IExecutionExceptionHandler, CommandLine.IParameterExceptionHandler {

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
            code = ErrorCode.INTERNAL;
            message = "out of memory; give the JVM more heap (java -Xmx...) or use fewer samples";
        } else {
            code = ErrorCode.INTERNAL;
            message = ex.getClass().getSimpleName() + ": " + ex.getMessage()
                    + (verbose ? "" : " (run with --verbose for the stack trace)");
        }
        String line = message.startsWith(code.title()) ? message : code.title() + ": " + message;
        err.println("onnx-fuse: error: " + line);
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
        err.println("onnx-fuse: error: " + ErrorCode.USAGE.title() + ": " + ex.getMessage());
        if (!CommandLine.UnmatchedArgumentException.printSuggestions(ex, err)) {
            err.println("Try '" + cli.getCommandSpec().qualifiedName() + " --help' for more information.");
        }
        err.flush();
        return ErrorCode.USAGE.exitCode();
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
