package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * Parameter-free ops on data before the first level, where several model inputs meet or an int64
 * or bool input (token ids, a mask) is prepared: Cast, comparisons and logic, Where, arithmetic,
 * Concat, Unsqueeze, Gather of an initializer at given indices, and a ReduceSum (not over the batch)
 * and a Clip with constant bounds (masked mean pooling's count of kept tokens, clamped away from 0,
 * {@code mask.sum(1, keepdim=True).clamp(min=1e-9)}), and an Expand to an activation's own size
 * (sentence-transformers' {@code attention_mask.unsqueeze(-1).expand(h.size())}). Such data has no neurons, so
 * fusion copies these ops from the template unchanged; the planner only needs each output's shape,
 * whether it is float, and the axes along which its values are the same because an Expand broadcast them
 * there from size 1 to an activation's size ({@link Result#uniform}): on the neuron axis such data is as wide
 * as the neurons, in the fused model too (the size is read from the fused activation), yet treats every
 * neuron alike.
 */
public final class ParameterFreeOps {
    private static final Set<String> LOGIC = Set.of("Not", "Equal", "Less", "Greater", "LessOrEqual",
            "GreaterOrEqual", "And", "Or", "Xor");
    private static final Set<String> ARITHMETIC = Set.of("Add", "Sub", "Mul", "Div");

    private ParameterFreeOps() {
    }

    /**
     * One input of the op: its shape, whether it holds float32 (null shape: omitted input), the axes along
     * which its values are the same (broadcast from size 1 to an activation's size), and, for a shape tensor
     * that is an activation's size ({@link #sizeOf}), that size (else null).
     */
    public record Operand(List<Dim> shape, boolean floating, Set<Integer> uniform, List<Dim> size) {
        /** An optional input left out (an empty name: Clip without a max). */
        public static final Operand OMITTED = new Operand(null, false);

        public Operand {
            uniform = Set.copyOf(uniform);
        }

        public Operand(List<Dim> shape, boolean floating) {
            this(shape, floating, Set.of(), null);
        }

        /** A 1-D int64 operand holding the size of an activation of shape {@code size} (its {@code h.size()}). */
        public static Operand sizeOf(List<Dim> size) {
            return new Operand(List.of(Dim.of(size.size())), false, Set.of(), List.copyOf(size));
        }
    }

    /** What the op writes: its shape, whether it is float32, and the axes along which its values are the same. */
    public record Result(List<Dim> shape, boolean floating, Set<Integer> uniform) {
        public Result {
            uniform = Set.copyOf(uniform);
        }

        public Result(List<Dim> shape, boolean floating) {
            this(shape, floating, Set.of());
        }
    }

    /**
     * The activation whose whole size the shape tensor {@code target} is, as torch exports {@code h.size()}
     * for an expand: Shape(h), or a Concat on axis 0 of Unsqueeze(Gather(Shape(h), i)) for i = 0, 1, ... in
     * order, possibly through a Reshape to [-1] and the Where(Equal(t, ...), ..., t) torch writes for
     * expand's -1 (a size is never -1, so the Where passes t). Empty for anything else.
     */
    public static Optional<String> sizeOf(String target, GraphView view) {
        Node n = view.graph().producer(target).orElse(null);
        if (is(n, "Where", 3) && is(view.graph().producer(n.inputs().get(0)).orElse(null), "Equal", 2)
                && view.graph().producer(n.inputs().get(0)).orElseThrow().inputs().contains(n.inputs().get(2))) {
            n = view.graph().producer(n.inputs().get(2)).orElse(null);
        }
        if (is(n, "Reshape", 2) && view.constant(n.inputs().get(1)).map(t -> Arrays.equals(t.toLongs(),
                new long[] {-1})).orElse(false)) {
            n = view.graph().producer(n.inputs().get(0)).orElse(null);
        }
        if (wholeShape(n)) {
            return Optional.of(n.inputs().get(0));
        }
        if (!is(n, "Concat", -1) || n.longAttribute("axis", 0) != 0) {
            return Optional.empty();
        }
        String of = null;
        for (int i = 0; i < n.inputs().size(); i++) {
            Node u = view.graph().producer(n.inputs().get(i)).orElse(null);
            long[] axes = u == null ? null : u.inputs().size() > 1
                    ? view.constant(u.inputs().get(1)).map(Tensor::toLongs).orElse(null)
                    : u.longsAttribute("axes", null);
            Node g = is(u, "Unsqueeze", -1) && axes != null && Arrays.equals(axes, new long[] {0})
                    ? view.graph().producer(u.inputs().get(0)).orElse(null) : null;
            long[] index = is(g, "Gather", 2) && g.longAttribute("axis", 0) == 0
                    ? view.constant(g.inputs().get(1)).map(Tensor::toLongs).orElse(null) : null;
            Node s = index != null && index.length == 1 && index[0] == i
                    ? view.graph().producer(g.inputs().get(0)).orElse(null) : null;
            if (!wholeShape(s) || of != null && !of.equals(s.inputs().get(0))) {
                return Optional.empty();
            }
            of = s.inputs().get(0);
        }
        return Optional.ofNullable(of);
    }

    private static boolean is(Node n, String opType, int inputs) {
        return n != null && n.isDefaultDomain() && n.opType().equals(opType)
                && (inputs < 0 || n.inputs().size() == inputs);
    }

    private static boolean wholeShape(Node n) {
        return is(n, "Shape", 1) && n.attribute("start").isEmpty() && n.attribute("end").isEmpty();
    }

    /** The operand at {@code value} when it is a constant: its dims and type; empty otherwise. */
    public static Optional<Operand> constant(String value, GraphView view) {
        return view.constant(value).map(t -> new Operand(dims(t), t.dataType() == DataType.FLOAT));
    }

    /**
     * The result of {@code node} on {@code operands} (one per node input), or empty when the op is
     * not one of these or its shapes do not fit.
     */
    public static Optional<Result> apply(Node node, List<Operand> operands, GraphView view) {
        if (!node.isDefaultDomain() || operands.stream().anyMatch(o -> o == null) || operands.isEmpty()
                || operands.get(0).shape() == null) {
            return Optional.empty();
        }
        String op = node.opType();
        if (op.equals("Clip")) {
            // the bounds: constants or left out
            return operands.stream().skip(1).allMatch(o -> o == Operand.OMITTED || o.shape().isEmpty()
                    || o.shape().size() == 1 && o.shape().get(0).isFixed() && o.shape().get(0).value() == 1)
                    ? Optional.of(new Result(operands.get(0).shape(), operands.get(0).floating(),
                    operands.get(0).uniform())) : Optional.empty();
        }
        if (operands.stream().anyMatch(o -> o == Operand.OMITTED)) {
            return Optional.empty();
        }
        List<List<Dim>> shapes = operands.stream().map(Operand::shape).toList();
        if (op.equals("Cast")) {
            return Optional.of(new Result(shapes.get(0), node.longAttribute("to", 0) == DataType.FLOAT.code(),
                    operands.get(0).uniform()));
        }
        if (op.equals("Identity")) {
            return Optional.of(new Result(shapes.get(0), operands.get(0).floating(), operands.get(0).uniform()));
        }
        if (op.equals("Expand") && operands.size() == 2) {
            return expand(operands.get(0), operands.get(1).size());
        }
        if (LOGIC.contains(op)) {
            return broadcast(shapes).map(s -> new Result(s, false));
        }
        if (ARITHMETIC.contains(op)) {
            boolean floating = operands.stream().anyMatch(Operand::floating);
            return broadcast(shapes).map(s -> new Result(s, floating));
        }
        if (op.equals("Where") && operands.size() == 3) {
            boolean floating = operands.get(1).floating() || operands.get(2).floating();
            return broadcast(shapes).map(s -> new Result(s, floating));
        }
        if (op.equals("Concat")) {
            return concat(node, shapes).map(s -> new Result(s, operands.get(0).floating()));
        }
        if (op.equals("Unsqueeze")) {
            return unsqueeze(node, shapes.get(0), view).map(s -> new Result(s, operands.get(0).floating()));
        }
        if (op.equals("ReduceSum")) {
            List<Dim> in = shapes.get(0);
            long[] axes = ReduceHandler.axes(node, in.size(), view);
            boolean keep = node.longAttribute("keepdims", 1) != 0;
            Set<Integer> uniform = new TreeSet<>();
            for (int a : operands.get(0).uniform()) {
                long removed = Arrays.stream(axes).filter(r -> r < a).count();
                if (Arrays.stream(axes).noneMatch(r -> r == a)) {
                    uniform.add(keep ? a : a - (int) removed);
                }
            }
            return Optional.of(new Result(ReduceHandler.reducedShape(node, in, view), operands.get(0).floating(),
                    uniform));
        }
        if (op.equals("Gather") && operands.size() == 2 && view.isConstant(node.inputs().get(0))
                && node.longAttribute("axis", 0) == 0) {
            List<Dim> out = new ArrayList<>(shapes.get(1));
            out.addAll(shapes.get(0).subList(1, shapes.get(0).size()));
            return Optional.of(new Result(out, operands.get(0).floating()));
        }
        return Optional.empty();
    }

    /**
     * Expand of {@code data} to {@code size}, an activation's size ({@link Operand#sizeOf}; null for any other
     * target, which is not taken): the axes where the data has size 1 (or none) and the size is not 1 become
     * uniform.
     */
    private static Optional<Result> expand(Operand data, List<Dim> size) {
        if (size == null || size.size() < data.shape().size()) {
            return Optional.empty();
        }
        return broadcast(List.of(data.shape(), size)).map(out -> {
            int lead = out.size() - data.shape().size();
            Set<Integer> uniform = new TreeSet<>();
            for (int i = 0; i < out.size(); i++) {
                boolean one = i < lead || isOne(data.shape().get(i - lead));
                if (one && !isOne(out.get(i)) || i >= lead && data.uniform().contains(i - lead)) {
                    uniform.add(i);
                }
            }
            return new Result(out, data.floating(), uniform);
        });
    }

    private static boolean isOne(Dim d) {
        return d.isFixed() && d.value() == 1;
    }

    /** NumPy broadcasting of every shape; empty when two fixed sizes other than 1 differ. */
    static Optional<List<Dim>> broadcast(List<List<Dim>> shapes) {
        int rank = shapes.stream().mapToInt(List::size).max().orElse(0);
        List<Dim> out = new ArrayList<>();
        for (int i = 0; i < rank; i++) {
            Dim found = Dim.of(1);
            for (List<Dim> s : shapes) {
                int j = i - (rank - s.size());
                if (j < 0) {
                    continue;
                }
                Dim d = s.get(j);
                boolean one = d.isFixed() && d.value() == 1;
                boolean foundOne = found.isFixed() && found.value() == 1;
                if (foundOne || (!found.isFixed() && d.isFixed() && !one)) {
                    found = d;
                } else if (!one && d.isFixed() && found.isFixed() && d.value() != found.value()) {
                    return Optional.empty();
                }
            }
            out.add(found);
        }
        return Optional.of(out);
    }

    private static Optional<List<Dim>> concat(Node node, List<List<Dim>> shapes) {
        int rank = shapes.get(0).size();
        long attr = node.longAttribute("axis", 0);
        int axis = (int) (attr < 0 ? attr + rank : attr);
        if (axis <= 0 || axis >= rank || shapes.stream().anyMatch(s -> s.size() != rank)) {
            return Optional.empty();
        }
        long total = 0;
        for (List<Dim> s : shapes) {
            if (!s.get(axis).isFixed()) {
                return Optional.empty();
            }
            total += s.get(axis).value();
        }
        List<Dim> out = new ArrayList<>(shapes.get(0));
        out.set(axis, Dim.of(total));
        return Optional.of(out);
    }

    private static Optional<List<Dim>> unsqueeze(Node node, List<Dim> in, GraphView view) {
        long[] axes = node.inputs().size() > 1
                ? view.constant(node.inputs().get(1)).map(Tensor::toLongs).orElse(null)
                : node.longsAttribute("axes", null);
        if (axes == null) {
            return Optional.empty();
        }
        int rank = in.size() + axes.length;
        List<Dim> out = new ArrayList<>();
        List<Long> normalised = new ArrayList<>();
        for (long a : axes) {
            normalised.add(a < 0 ? a + rank : a);
        }
        int next = 0;
        for (int i = 0; i < rank; i++) {
            out.add(normalised.contains((long) i) ? Dim.of(1) : in.get(next++));
        }
        return Optional.of(out);
    }

    private static List<Dim> dims(Tensor t) {
        List<Dim> out = new ArrayList<>();
        for (long d : t.dims()) {
            out.add(Dim.of(d));
        }
        return out;
    }
}
