package org.onnxfuse.fusion.baseline;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.onnxfuse.fusion.plan.InputLayout;
import org.onnxfuse.fusion.plan.Level;
import org.onnxfuse.fusion.plan.LevelPlan;
import org.onnxfuse.fusion.plan.NeuronSpace;
import org.onnxfuse.fusion.plan.PerNeuronOp;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Model;

/**
 * One model's neurons moved space by space: for each neuron space given, a {@link NeuronMap} from
 * the model's neurons to new ones (a permutation, a selection that keeps some of them, or a
 * transport plan), applied wherever the plan says the space appears. This is Git Re-Basin's
 * permutation spec, derived from the {@link LevelPlan} instead of written by hand:
 * <ul>
 *   <li>the output columns of every level writing the space, a depthwise Conv's included (its
 *       rows are the kernel offsets of its own channel and stay where they are);</li>
 *   <li>the input rows of every other level reading it, through the level's
 *       {@link org.onnxfuse.fusion.plan.InputBinding}: each space at its offset among the spaces
 *       stacked there, each neuron's copies where the {@link InputLayout} puts them (positions
 *       after a Flatten, channels first or last, Conv kernel offsets);</li>
 *   <li>the parameters of the per-neuron ops on it.</li>
 * </ul>
 * Spaces without a map keep their neurons; the classes are never moved. Immutable.
 */
public final class SpaceAlignment {
    private final LevelPlan plan;
    private final Map<Integer, NeuronMap> maps;

    private SpaceAlignment(LevelPlan plan, Map<Integer, NeuronMap> maps) {
        this.plan = plan;
        this.maps = Map.copyOf(maps);
    }

    /**
     * The alignment of the model planned as {@code plan} that maps space s by {@code maps.get(s)}.
     *
     * @throws IllegalArgumentException for a space the plan lacks, a space of classes, or a map
     *     whose source width is not the space's width
     */
    public static SpaceAlignment of(LevelPlan plan, Map<Integer, NeuronMap> maps) {
        List<Integer> movable = movableSpaces(plan);
        for (Map.Entry<Integer, NeuronMap> e : maps.entrySet()) {
            int s = e.getKey();
            if (s < 0 || s >= plan.spaces().size()) {
                throw new IllegalArgumentException("space " + s + " is not in the plan, which has spaces 0.."
                        + (plan.spaces().size() - 1));
            }
            if (!movable.contains(s)) {
                throw new IllegalArgumentException("space " + s + " holds the classes, which are never moved");
            }
            if (e.getValue().sourceWidth() != plan.space(s).width()) {
                throw new IllegalArgumentException("space " + s + " has " + plan.space(s).width() + " neurons, found a"
                        + " map of " + e.getValue().sourceWidth());
            }
        }
        return new SpaceAlignment(plan, maps);
    }

    /**
     * The selection that makes neuron i of space s old neuron {@code picks.get(s)[i]}: a
     * permutation of the space when the picks are all its neurons, a narrower space when fewer.
     */
    public static SpaceAlignment selection(LevelPlan plan, Map<Integer, int[]> picks) {
        Map<Integer, NeuronMap> maps = new TreeMap<>();
        picks.forEach((s, pick) -> maps.put(s, NeuronMap.permutation(pick, width(plan, s))));
        return of(plan, maps);
    }

    /** The spaces whose neurons may move: every space that holds no level of classes, in id order. */
    public static List<Integer> movableSpaces(LevelPlan plan) {
        List<Integer> out = new ArrayList<>();
        for (NeuronSpace s : plan.spaces()) {
            if (s.levels().stream().noneMatch(l -> plan.level(l).last())) {
                out.add(s.id());
            }
        }
        return out;
    }

    private static int width(LevelPlan plan, int space) {
        if (space < 0 || space >= plan.spaces().size()) {
            throw new IllegalArgumentException("space " + space + " is not in the plan, which has spaces 0.."
                    + (plan.spaces().size() - 1));
        }
        return Math.toIntExact(plan.space(space).width());
    }

    /** The map of {@code space}: the one given, or the identity. */
    private NeuronMap map(int space) {
        NeuronMap m = maps.get(space);
        return m != null ? m : NeuronMap.identity(width(plan, space));
    }

    /** Whether {@code level}'s weights change: it writes a mapped space or reads one (a depthwise level reads none). */
    public boolean moves(Level level) {
        return maps.containsKey(level.space()) || movesInputRows(level);
    }

    public boolean moves(PerNeuronOp op) {
        return op.spaces().stream().anyMatch(maps::containsKey);
    }

    private boolean movesInputRows(Level level) {
        return !level.depthwise() && level.binding().spaces().stream().anyMatch(maps::containsKey);
    }

    /** {@code w} (level {@code level}'s matrix) with its input rows mapped; the columns as they are. */
    double[][] inputRows(Level level, double[][] w) {
        if (!movesInputRows(level)) {
            return w;
        }
        List<NeuronMap> slices = level.binding().spaces().stream().map(this::map).toList();
        return NeuronMap.mapStackedRows(slices, w, level.hasBias(), inputLayout(level));
    }

    /** {@code w} (level {@code level}'s matrix) with its columns mapped; the input rows as they are. */
    double[][] columns(Level level, double[][] w) {
        NeuronMap own = maps.get(level.space());
        return own == null ? w : own.mapColumns(w);
    }

    /** {@code w} (level {@code level}'s matrix) with its input rows and its columns mapped. */
    double[][] level(Level level, double[][] w) {
        return columns(level, inputRows(level, w));
    }

    /** The form of {@code op} ({a, b}, per position where it has positions) with its channels mapped. */
    double[][] perNeuron(PerNeuronOp op, double[][] ab) {
        if (!moves(op)) {
            return ab;
        }
        List<NeuronMap> slices = op.spaces().stream().map(this::map).toList();
        double[][] out = new double[ab.length][];
        for (int row = 0; row < ab.length; row++) {
            out[row] = NeuronMap.mapStackedValues(slices, ab[row]);
        }
        return out;
    }

    /** {@code w} (this plan's model's weights) with every level and per-neuron op mapped. */
    ModelWeights apply(ModelWeights w) {
        List<double[][]> levels = new ArrayList<>();
        for (Level level : plan.levels()) {
            levels.add(level(level, w.level(level.index())));
        }
        List<double[][]> ops = new ArrayList<>();
        for (int i = 0; i < plan.perNeuron().size(); i++) {
            ops.add(perNeuron(plan.perNeuron().get(i), w.perNeuron(i)));
        }
        return new ModelWeights(levels, ops);
    }

    /**
     * {@code model} (the model this plan was made of) with its neurons mapped. Only what moves is
     * written: a folded BatchNormalization of a level that does not move stays in the graph.
     */
    public Model applyTo(Model model) {
        ModelWeights mapped = apply(ModelWeights.read(model.graph(), plan));
        return model.withGraph(mapped.write(model.graph(), plan, this::moves, this::moves));
    }

    /**
     * How {@code level}'s input features follow the neurons of the spaces it reads.
     *
     * @throws UnsupportedOpException when the ops before it mix the features in a way no
     *     {@link InputLayout} describes
     */
    static InputLayout inputLayout(Level level) {
        return level.binding().knownLayout().orElseThrow(() -> new UnsupportedOpException(ErrorCode.UNSUPPORTED_OP,
                "level " + level.index() + " reads " + (level.fanIn() - (level.hasBias() ? 1 : 0)) + " input"
                        + " features of " + level.affine().describe() + " in an order that does not follow the neurons"
                        + " of space(s) " + level.binding().spaces() + "; aligning neurons needs to know which"
                        + " features each neuron feeds"));
    }
}
