package org.onnxfuse.fusion.plan;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.onnxfuse.fusion.ops.Shapes;
import org.onnxfuse.onnx.errors.TerminalText;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/**
 * Prints a {@link LevelPlan} as a text table (for people) or JSON (for scripts). In JSON a
 * fixed dim is a number, a symbolic one its name and an unknown one null.
 */
public final class PlanFormatter {
    private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final String[] HEADER = {"level", "ops", "affine node", "cut", "cut shape", "axis", "width",
        "fan-in", "last"};

    private PlanFormatter() {
    }

    /**
     * A header line and one row per level; {@code verbose} adds, per level, the tensor it starts
     * from, the affine op's input and settings and the nodes of its ops.
     */
    public static String table(String modelName, LevelPlan plan, boolean verbose) {
        StringBuilder sb = new StringBuilder();
        sb.append(shown(modelName)).append(": ").append(inputs(plan)).append(" -> output '")
                .append(shown(plan.output())).append("' ")
                .append(Shapes.format(plan.outputShape())).append(", ").append(plan.levels().size())
                .append(plan.levels().size() == 1 ? " level" : " levels").append('\n');
        List<String[]> rows = new ArrayList<>();
        rows.add(HEADER);
        for (Level l : plan.levels()) {
            rows.add(new String[] {Integer.toString(l.index()), shown(String.join(", ", l.opTypes())),
                shown(l.affine().name()),
                shown(l.cut()), Shapes.format(l.cutShape()), Integer.toString(l.neuronAxis()), Long.toString(l.width()),
                Long.toString(l.fanIn()), l.last() ? "yes" : ""});
        }
        int[] widths = new int[HEADER.length];
        for (String[] r : rows) {
            for (int i = 0; i < r.length; i++) {
                widths[i] = Math.max(widths[i], r[i].length());
            }
        }
        for (int k = 0; k < rows.size(); k++) {
            String[] r = rows.get(k);
            StringBuilder line = new StringBuilder("  ");
            for (int i = 0; i < r.length; i++) {
                boolean numeric = i == 0 || i == 5 || i == 6 || i == 7;
                String cell = numeric && k > 0 ? " ".repeat(widths[i] - r[i].length()) + r[i]
                        : r[i] + " ".repeat(widths[i] - r[i].length());
                line.append(cell).append(i + 1 < r.length ? "  " : "");
            }
            sb.append(line.toString().stripTrailing()).append('\n');
            if (verbose && k > 0) {
                Level l = plan.levels().get(k - 1);
                sb.append("      from '").append(shown(l.from())).append("'; affine input '")
                        .append(shown(l.input())).append("' ")
                        .append(Shapes.format(l.inputShape()));
                if (!l.affineSignature().isEmpty()) {
                    sb.append("; ").append(signature(l.affineSignature()));
                }
                sb.append('\n');
                for (LevelOp op : l.ops()) {
                    sb.append("      ").append(shown(op.describe())).append(" -> ")
                            .append(Shapes.format(op.outputShape()));
                    if (!op.signature().isEmpty()) {
                        sb.append("  ").append(signature(op.signature()));
                    }
                    sb.append('\n');
                }
                sb.append("      ").append(quote(l.affine()));
                l.biasAddNode().ifPresent(n -> sb.append(", bias ").append(quote(n)));
                l.foldedNormNode().ifPresent(n -> sb.append(", folded ").append(quote(n)));
                sb.append(" -> ").append(Shapes.format(l.cutShape())).append('\n');
            }
        }
        if (!plan.trailingOps().isEmpty()) {
            sb.append("  after the last level: ").append(plan.trailingOps().stream()
                    .map(verbose ? LevelOp::describe : LevelOp::opType).map(PlanFormatter::shown)
                    .collect(Collectors.joining(", ")))
                    .append('\n');
        }
        if (!plan.sequential()) {
            appendGraphStructure(sb, plan, verbose);
        }
        if (plan.heads().size() > 1) {
            sb.append("  outputs:\n");
            for (OutputHead h : plan.heads()) {
                sb.append("    '").append(shown(h.output())).append("' ").append(Shapes.format(h.shape())).append(": ")
                        .append(h.carriesClasses() ? "classes of level " + h.classLevel() : "features")
                        .append(h.output().equals(plan.output()) ? " (main)" : "").append('\n');
            }
        }
        return sb.toString();
    }

    /** " (attention)", " (attention; also reads 'memory', 'mask')" or nothing. */
    private static String blockNote(LevelPlan plan, ResidualBlock b) {
        List<String> notes = new ArrayList<>();
        if (plan.holdsAttention(b)) {
            notes.add("attention");
        }
        if (!b.reads().isEmpty()) {
            notes.add("also reads " + b.reads().stream().map(r -> "'" + shown(r) + "'")
                    .collect(Collectors.joining(", ")));
        }
        return notes.isEmpty() ? "" : " (" + String.join("; ", notes) + ")";
    }

    /** Spaces, what each level reads and the joins: what a network that is not one chain adds to its table. */
    private static void appendGraphStructure(StringBuilder sb, LevelPlan plan, boolean verbose) {
        sb.append("  neuron spaces (id: width, levels, member cuts):\n");
        for (NeuronSpace space : plan.spaces()) {
            sb.append("    ").append(space.id()).append(": ").append(space.width())
                    .append(space.headed() ? " (" + space.heads() + " attention heads of " + space.width() / space.heads()
                            + ", grouped whole" + (space.headsShared().isEmpty() ? "" : ", in the head order of space "
                            + space.headsShared().stream().map(String::valueOf).collect(Collectors.joining(", ")))
                            + ")" : "").append(", levels ")
                    .append(space.levels().stream().map(String::valueOf).collect(Collectors.joining(", ")))
                    .append(", cuts ").append(space.cuts().stream().map(c -> "'" + shown(c) + "'")
                            .collect(Collectors.joining(", "))).append('\n');
        }
        sb.append("  levels (reads spaces; fused by):\n");
        for (Level l : plan.levels()) {
            sb.append("    ").append(l.index()).append(": ").append(reads(l)).append("; ").append(variant(plan, l))
                    .append('\n');
        }
        if (!plan.blocks().isEmpty()) {
            sb.append("  residual blocks (from -> Add output: levels; kf-gradient and kf-auto train each"
                    + " as one segment):\n");
            for (ResidualBlock b : plan.blocks()) {
                sb.append("    '").append(shown(b.input())).append("' -> '").append(shown(b.output())).append("': levels ")
                        .append(b.levels().stream().map(String::valueOf).collect(Collectors.joining(", ")))
                        .append(blockNote(plan, b)).append('\n');
            }
        }
        if (!plan.unsegmented().isEmpty()) {
            sb.append("  attention blocks no training segment holds (kf-gradient and kf-auto fuse their levels"
                    + " without training them together):\n");
            plan.unsegmented().forEach(why -> sb.append("    ").append(shown(why)).append('\n'));
        }
        if (!plan.joins().isEmpty()) {
            sb.append("  joins and shared ops: ").append(plan.joins().stream()
                    .map(verbose ? LevelOp::describe : LevelOp::opType).map(PlanFormatter::shown)
                    .collect(Collectors.joining(", "))).append('\n');
        }
        if (!plan.perNeuron().isEmpty()) {
            sb.append("  per-neuron parameters rewritten by fusion: ").append(plan.perNeuron().stream()
                    .map(p -> p.perHead() ? "'" + shown(p.op().node().name()) + "' (" + p.op().node().opType()
                            + " of a constant per head to the attention scores of space " + p.spaces().get(0) + ")"
                            : shown(p.op().describe())).collect(Collectors.joining(", "))).append('\n');
        }
    }

    private static String reads(Level l) {
        if (l.binding().readsModelInput()) {
            return "the model input";
        }
        String spaces = l.binding().spaces().stream().map(String::valueOf).collect(Collectors.joining(" + "));
        return (l.binding().spaces().size() == 1 ? "space " : "spaces ") + spaces
                + (l.binding().knownLayout().isEmpty() ? " (features rearranged)" : "");
    }

    /** Which variant fuses the level, in words. */
    static String variant(LevelPlan plan, Level l) {
        if (l.last()) {
            return "linear, class means";
        }
        if (l.depthwise()) {
            return "linear, per channel";
        }
        return plan.space(l.space()).shared() ? "linear, shared grouping" : "linear";
    }

    /**
     * For several parents: each space's width per parent (the plans are compatible, so they have
     * the same spaces), e.g. "space 0: 16 / 12".
     */
    public static String spaceWidths(List<String> modelNames, List<LevelPlan> plans) {
        StringBuilder sb = new StringBuilder("neuron space widths (" + shown(String.join(" / ", modelNames)) + "):\n");
        for (NeuronSpace space : plans.get(0).spaces()) {
            sb.append("  space ").append(space.id()).append(": ").append(plans.stream()
                    .map(p -> Long.toString(p.space(space.id()).width())).collect(Collectors.joining(" / ")))
                    .append('\n');
        }
        return sb.toString();
    }

    /** The plan of one model as a JSON object with {@code model}, {@code input}, {@code output} and {@code levels}. */
    public static ObjectNode json(String modelName, LevelPlan plan) {
        ObjectNode root = MAPPER.createObjectNode();
        root.put("model", modelName);
        root.set("input", tensor(plan.input(), plan.inputShape()));
        ArrayNode inputs = root.putArray("inputs");
        for (ModelInput in : plan.inputs()) {
            ObjectNode o = tensor(in.name(), in.shape());
            o.put("elementType", in.elementType().name());
            o.put("passedThrough", !in.floating());
            inputs.add(o);
        }
        root.set("output", tensor(plan.output(), plan.outputShape()));
        ArrayNode widths = root.putArray("widths");
        plan.widths().forEach(widths::add);
        ArrayNode levels = root.putArray("levels");
        for (Level l : plan.levels()) {
            ObjectNode o = levels.addObject();
            o.put("index", l.index());
            ArrayNode ops = o.putArray("ops");
            l.opTypes().forEach(ops::add);
            o.put("op", l.affineOpType());
            o.put("node", l.affine().name());
            o.put("from", l.from());
            o.put("input", l.input());
            o.set("inputShape", shape(l.inputShape()));
            o.put("cut", l.cut());
            o.set("cutShape", shape(l.cutShape()));
            o.put("neuronAxis", l.neuronAxis());
            o.put("width", l.width());
            o.put("fanIn", l.fanIn());
            o.put("bias", l.hasBias());
            o.put("biasAdd", l.biasAdd() == null ? null : l.biasAdd().name());
            o.put("foldedNorm", l.foldedNorm() == null ? null : l.foldedNorm().name());
            o.put("last", l.last());
            o.put("space", l.space());
            ArrayNode reads = o.putArray("reads");
            l.binding().spaces().forEach(reads::add);
            o.put("depthwise", l.depthwise());
            o.put("variant", variant(plan, l));
            if (!l.affineSignature().isEmpty()) {
                o.set("settings", settings(l.affineSignature()));
            }
            ArrayNode nodes = o.putArray("nodes");
            l.nodes().forEach(n -> nodes.addObject().put("name", n.name()).put("op", n.opType()));
        }
        ArrayNode trailing = root.putArray("trailingOps");
        plan.trailingOps().forEach(op -> trailing.add(op.opType()));
        ArrayNode spaces = root.putArray("spaces");
        for (NeuronSpace space : plan.spaces()) {
            ObjectNode o = spaces.addObject();
            o.put("id", space.id());
            o.put("width", space.width());
            o.put("shared", space.shared());
            o.put("heads", space.heads());
            ArrayNode partners = o.putArray("headsShared");
            space.headsShared().forEach(partners::add);
            ArrayNode levelIds = o.putArray("levels");
            space.levels().forEach(levelIds::add);
            ArrayNode cuts = o.putArray("cuts");
            space.cuts().forEach(cuts::add);
        }
        ArrayNode outputs = root.putArray("outputs");
        for (OutputHead h : plan.heads()) {
            ObjectNode o = outputs.addObject();
            o.put("name", h.output());
            o.set("shape", shape(h.shape()));
            o.put("classLevel", h.classLevel());
        }
        ArrayNode blocks = root.putArray("blocks");
        for (ResidualBlock b : plan.blocks()) {
            ObjectNode o = blocks.addObject();
            o.put("input", b.input());
            o.put("output", b.output());
            ArrayNode levelIds = o.putArray("levels");
            b.levels().forEach(levelIds::add);
            o.put("attention", plan.holdsAttention(b));
            ArrayNode reads = o.putArray("reads");
            b.reads().forEach(reads::add);
        }
        ArrayNode unsegmented = root.putArray("unsegmented");
        plan.unsegmented().forEach(unsegmented::add);
        ArrayNode joins = root.putArray("joins");
        plan.joins().forEach(op -> joins.addObject().put("op", op.opType()).put("node", op.node().name())
                .put("output", op.output()));
        return root;
    }

    /** Several models: {@code {"models": [...]}} with one {@link #json} object each. */
    public static ObjectNode json(List<String> modelNames, List<LevelPlan> plans) {
        ObjectNode root = MAPPER.createObjectNode();
        ArrayNode models = root.putArray("models");
        for (int i = 0; i < plans.size(); i++) {
            models.add(json(modelNames.get(i), plans.get(i)));
        }
        return root;
    }

    /** Pretty-printed JSON text. */
    public static String toText(JsonNode node) {
        try {
            return MAPPER.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * "input 'x' [N, 784]" for one float input, else every input with its element type:
     * "inputs 'x' [N, 8] FLOAT, 'mask' [N, 8] INT64 (passed through)".
     */
    private static String inputs(LevelPlan plan) {
        if (plan.inputs().size() == 1 && plan.mainInput().floating()) {
            return "input '" + shown(plan.input()) + "' " + Shapes.format(plan.inputShape());
        }
        return (plan.inputs().size() == 1 ? "input " : "inputs ") + plan.inputs().stream()
                .map(in -> "'" + shown(in.name()) + "' " + Shapes.format(in.shape()) + " " + in.elementType()
                        + (in.floating() ? "" : " (passed through)"))
                .collect(Collectors.joining(", "));
    }

    private static ObjectNode tensor(String name, List<Dim> shape) {
        ObjectNode o = MAPPER.createObjectNode();
        o.put("name", name);
        o.set("shape", shape(shape));
        return o;
    }

    private static ArrayNode shape(List<Dim> shape) {
        ArrayNode a = MAPPER.createArrayNode();
        for (Dim d : shape) {
            if (d.isFixed()) {
                a.add(d.value());
            } else if (d.param() != null) {
                a.add(d.param());
            } else {
                a.addNull();
            }
        }
        return a;
    }

    private static ObjectNode settings(Map<String, String> signature) {
        ObjectNode o = MAPPER.createObjectNode();
        signature.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> o.put(e.getKey(), e.getValue()));
        return o;
    }

    private static String signature(Map<String, String> signature) {
        return signature.entrySet().stream().sorted(Map.Entry.comparingByKey())
                .map(e -> shown(e.getKey() + "=" + e.getValue())).collect(Collectors.joining(", "));
    }

    private static String quote(Node n) {
        return shown("'" + n.name() + "' (" + n.opType() + ")");
    }

    /** A model's string as the table shows it: control characters escaped, so a name cannot forge lines. */
    private static String shown(String text) {
        return TerminalText.escape(text);
    }
}
