package org.onnxfuse.fusion.cli;

import picocli.CommandLine;

/** Entry point of {@code onnx-fuse.jar}. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true"); // the HTML report's charts are drawn off screen
        }
        Startup.preload(args);
        int exit;
        try {
            exit = run(args);
        } catch (OutOfMemoryError e) {
            // picocli passes Errors through; the heap is gone, so say it in one line and stop
            System.err.println("onnx-fuse: error: " + ErrorReporter.OUT_OF_MEMORY);
            exit = org.onnxfuse.onnx.errors.ErrorCode.NOT_ENOUGH_MEMORY.exitCode();
        }
        System.exit(exit);
    }

    /** Runs the CLI and returns the exit code (tests call this instead of {@link #main}). */
    public static int run(String... args) {
        return newCommandLine().execute(args);
    }

    static CommandLine newCommandLine() {
        CommandLine cli = new CommandLine(new FuseCommand());
        cli.addSubcommand("plan", new PlanCommand());
        cli.addSubcommand("diagnose", new DiagnoseCommand());
        cli.addSubcommand("run", new RunCommand());
        ErrorReporter reporter = new ErrorReporter();
        cli.setExecutionExceptionHandler(reporter);
        cli.setParameterExceptionHandler(reporter);
        for (CommandLine sub : cli.getSubcommands().values()) {
            sub.setExecutionExceptionHandler(reporter);
            sub.setParameterExceptionHandler(reporter);
        }
        return cli;
    }
}
