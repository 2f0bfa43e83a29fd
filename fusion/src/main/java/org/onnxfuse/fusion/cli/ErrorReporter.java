package org.onnxfuse.fusion.cli;

import java.io.PrintWriter;
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

    /** picocli's suggestions ("Possible solutions: --data, --labels") on the error's line, or where help is. */
    private static String hint(CommandLine.ParameterException ex, CommandLine cli) {
        if (ex instanceof CommandLine.UnmatchedArgumentException unmatched && !unmatched.getSuggestions().isEmpty()) {
            return "possible solutions: " + String.join(", ", unmatched.getSuggestions());
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
