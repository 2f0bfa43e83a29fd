package org.onnxfuse.fusion.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * A fusion written down as YAML ({@code onnx-fuse run fuse.yaml}): {@code parents} (a list of model
 * files, best first) and one key per long option of the fuse command without its dashes
 * ({@code data}, {@code output}, {@code method}, {@code width}, {@code seed}, ...; {@code width} may
 * also be a mapping from level to width). Flags are {@code true}/{@code false}. Relative paths are
 * relative to the YAML file's folder. The file turns into the fuse command's arguments, so both
 * take the same values with the same checks.
 */
final class ConfigFile {
    static final String PARENTS = "parents";
    /** Options whose values are files, resolved against the config file's folder. */
    private static final Set<String> PATH_KEYS = Set.of("data", "labels", "eval-data", "eval-labels", "output",
            "report", "report-html");
    /** Options that belong to one invocation, not to a replayable configuration. */
    private static final Set<String> NOT_RECORDED = Set.of("help", "version", "print-config", "quiet", "verbose");

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory()
            .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
            .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES));

    private ConfigFile() {
    }

    /**
     * The fuse command's arguments that {@code file} holds.
     *
     * @throws OnnxFuseException USAGE for a file that is not a YAML mapping, an unknown key (the
     *     known ones listed), a value of the wrong kind, or no parents
     */
    static List<String> arguments(Path file, CommandSpec fuse) {
        JsonNode root;
        try {
            root = YAML.readTree(file.toFile());
        } catch (IOException e) {
            throw new OnnxFuseException(ErrorCode.USAGE, file + ": expected a YAML configuration (parents: [...],"
                    + " data: ..., output: ...), found a file that does not parse: " + firstLine(e.getMessage()), e);
        }
        if (root == null || !root.isObject()) {
            throw new OnnxFuseException(ErrorCode.USAGE, file + ": expected a YAML mapping of settings (parents:"
                    + " [...], data: ..., output: ...), found " + (root == null ? "an empty file" : root.getNodeType()));
        }
        Path folder = file.toAbsolutePath().getParent();
        Set<String> known = keys(fuse);
        List<String> args = new ArrayList<>();
        JsonNode parents = root.get(PARENTS);
        if (parents == null || !parents.isArray() || parents.isEmpty()) {
            throw new OnnxFuseException(ErrorCode.USAGE, file + ": expected 'parents:' with a list of at least two"
                    + " model files, found " + (parents == null ? "no parents key" : parents.toString()));
        }
        for (JsonNode parent : parents) {
            args.add(resolve(folder, text(file, PARENTS, parent)));
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = e.getKey();
            if (key.equals(PARENTS)) {
                continue;
            }
            if (!known.contains(key)) {
                throw new OnnxFuseException(ErrorCode.USAGE, file + ": unknown setting '" + key + "'; expected one of "
                        + PARENTS + ", " + String.join(", ", known));
            }
            OptionSpec option = fuse.findOption("--" + key);
            JsonNode value = e.getValue();
            if (!option.typeInfo().isBoolean() || option.arity().max() > 0) {
                String text = key.equals("width") && value.isObject() ? perLevel(file, value) : text(file, key, value);
                args.add("--" + key);
                args.add(PATH_KEYS.contains(key) ? resolve(folder, text) : text);
            } else if (!value.isBoolean()) {
                throw new OnnxFuseException(ErrorCode.USAGE, file + ": '" + key + "' is a flag: expected true or"
                        + " false, found " + value);
            } else if (value.booleanValue()) {
                args.add("--" + key);
            }
        }
        return args;
    }

    /**
     * The YAML of a command line's parents and options, with the given values (paths made
     * absolute); what {@code --print-config} writes, for {@link #arguments} to replay.
     */
    static String write(List<Path> parents, CommandSpec fuse) {
        ObjectNode root = YAML.createObjectNode();
        ArrayNode list = root.putArray(PARENTS);
        parents.forEach(p -> list.add(p.toAbsolutePath().normalize().toString()));
        for (OptionSpec option : fuse.options()) {
            String key = option.longestName().replaceFirst("^--?", "");
            if (NOT_RECORDED.contains(key) || !fuse.commandLine().getParseResult().hasMatchedOption(option)) {
                continue;
            }
            Object value = option.getValue();
            if (value instanceof Boolean b) {
                root.put(key, b);
            } else if (value instanceof Path p) {
                root.put(key, p.toAbsolutePath().normalize().toString());
            } else if (value instanceof Number n) {
                root.put(key, n.toString());
            } else if (value != null) {
                root.put(key, value.toString());
            }
        }
        try {
            return YAML.writeValueAsString(root);
        } catch (IOException e) {
            throw new IllegalStateException("could not write the configuration as YAML", e);
        }
    }

    private static Set<String> keys(CommandSpec fuse) {
        Set<String> keys = new TreeSet<>();
        for (OptionSpec option : fuse.options()) {
            String key = option.longestName().replaceFirst("^--?", "");
            if (!NOT_RECORDED.contains(key)) {
                keys.add(key);
            }
        }
        return keys;
    }

    private static String perLevel(Path file, JsonNode widths) {
        List<String> parts = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = widths.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            parts.add(e.getKey() + ":" + text(file, "width", e.getValue()));
        }
        return String.join(",", parts);
    }

    private static String text(Path file, String key, JsonNode value) {
        if (value == null || !value.isValueNode() || value.isNull()) {
            throw new OnnxFuseException(ErrorCode.USAGE, file + ": '" + key + "' expects a single value (text or a"
                    + " number), found " + value);
        }
        return value.asText();
    }

    private static String resolve(Path folder, String path) {
        Path p = Path.of(path);
        return (p.isAbsolute() || folder == null ? p : folder.resolve(p)).normalize().toString();
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "(no message)";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    /** Writes {@code yaml} to {@code target}; a failure is the usual output error. */
    static void save(String yaml, Path target) {
        try {
            Files.writeString(target, yaml);
        } catch (IOException e) {
            throw new OnnxFuseException(ErrorCode.OUTPUT_UNWRITABLE, target + ": cannot write the configuration ("
                    + e.getMessage() + ")", e);
        }
    }
}
