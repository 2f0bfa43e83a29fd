package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * Parameter-free ops on data before the first level, where several model inputs meet or an int64
 * or bool input (token ids, a mask) is prepared: Cast, comparisons and logic, Where, arithmetic,
 * Concat, Unsqueeze, Gather of an initializer at given indices, and a ReduceSum (not over the batch)
 * and a Clip with constant bounds (masked mean pooling's count of kept tokens, clamped away from 0,
 * {@code mask.sum(1, keepdim=True).clamp(min=1e-9)}). Such data has no neurons, so
 * fusion copies these ops from the template unchanged; the planner only needs each output's shape
 * and whether it is float.
 */
public final class ParameterFreeOps {
    private static final Set<String> LOGIC = Set.of("Not", "Equal", "Less", "Greater", "LessOrEqual",
            "GreaterOrEqual", "And", "Or", "Xor");
    private static final Set<String> ARITHMETIC = Set.of("Add", "Sub", "Mul", "Div");

    private ParameterFreeOps() {
    }

    /** One input of the op: its shape and whether it holds float32 (null shape: omitted input). */
    public record Operand(List<Dim> shape, boolean floating) {
        /** An optional input left out (an empty name: Clip without a max). */
        public static final Operand OMITTED = new Operand(null, false);
    }

    /** What the op writes: its shape and whether it is float32. */
    public record Result(List<Dim> shape, boolean floating) {
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
                    ? Optional.of(new Result(operands.get(0).shape(), operands.get(0).floating())) : Optional.empty();
        }
        if (operands.stream().anyMatch(o -> o == Operand.OMITTED)) {
            return Optional.empty();
        }
        List<List<Dim>> shapes = operands.stream().map(Operand::shape).toList();
        if (op.equals("Cast")) {
            return Optional.of(new Result(shapes.get(0), node.longAttribute("to", 0) == DataType.FLOAT.code()));
        }
        if (op.equals("Identity")) {
            return Optional.of(new Result(shapes.get(0), operands.get(0).floating()));
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
            return Optional.of(new Result(ReduceHandler.reducedShape(node, shapes.get(0), view),
                    operands.get(0).floating()));
        }
        if (op.equals("Gather") && operands.size() == 2 && view.isConstant(node.inputs().get(0))
                && node.longAttribute("axis", 0) == 0) {
            List<Dim> out = new ArrayList<>(shapes.get(1));
            out.addAll(shapes.get(0).subList(1, shapes.get(0).size()));
            return Optional.of(new Result(out, operands.get(0).floating()));
        }
        return Optional.empty();
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
