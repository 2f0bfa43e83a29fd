package org.onnxfuse.fusion.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;

/**
 * {@code onnx-fuse run fuse.yaml [--option value ...]}: the fusion a YAML file describes
 * ({@link ConfigFile}); options after the file override its settings.
 */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"Fuse as a YAML file says: parents (a list, best first) and one key per long option of the"
                + " fuse command without its dashes (data, output, method, width, seed, ...; width may map levels to"
                + " widths). Options after the file override it. 'onnx-fuse ... --print-config FILE' writes one."})
final class RunCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Parameters(index = "0", paramLabel = "CONFIG.yaml", description = "the fusion's settings")
    private Path config;

    @Unmatched
    private List<String> overrides = new ArrayList<>();

    @Override
    public Integer call() {
        SubcommandGuard.refuseFusionOptions(spec);
        CommandLine parent = spec.commandLine().getParent();
        CommandSpec fuse = parent.getCommandSpec();
        List<String> args = withoutOverridden(ConfigFile.arguments(config, fuse), overrides, fuse);
        args.addAll(overrides);
        CommandLine fresh = Main.newCommandLine();
        fresh.setOut(spec.commandLine().getOut());
        fresh.setErr(spec.commandLine().getErr());
        return fresh.execute(args.toArray(String[]::new));
    }

    /** {@code args} less the options that {@code overrides} sets again (picocli takes each option once). */
    private static List<String> withoutOverridden(List<String> args, List<String> overrides, CommandSpec fuse) {
        Set<String> again = new HashSet<>();
        for (String o : overrides) {
            OptionSpec option = fuse.findOption(o.contains("=") ? o.substring(0, o.indexOf('=')) : o);
            if (option != null) {
                again.add(option.longestName());
            }
        }
        List<String> kept = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            OptionSpec option = args.get(i).startsWith("-") ? fuse.findOption(args.get(i)) : null;
            if (option != null && again.contains(option.longestName())) {
                if (option.arity().max() > 0) {
                    i++; // its value
                }
                continue;
            }
            kept.add(args.get(i));
        }
        return kept;
    }
}
