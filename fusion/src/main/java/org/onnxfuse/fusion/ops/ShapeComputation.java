package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;

/**
 * A shape computed inside the graph from the shape of one activation, such as torch's export of
 * {@code x.view(x.size(0), -1)}: Shape(x) -> Gather(0) -> Unsqueeze -> Concat with [-1] -> the
 * Reshape's target. The nodes read only x's shape, never its values, so the network is still a
 * chain; once x's shape is known the target can be worked out, with x's symbolic batch size
 * copied through.
 *
 * <p>Supported: Shape (start/end), Constant and initializers, Gather on axis 0 with constant
 * indices, Unsqueeze/Squeeze of one element, Concat on axis 0, Slice with constant bounds, Cast,
 * Identity, and Add/Sub/Mul/Div of sizes that are known numbers.
 */
public final class ShapeComputation {
    private static final Set<String> OPS = Set.of("Shape", "Constant", "Gather", "Unsqueeze", "Squeeze", "Concat",
            "Slice", "Cast", "Identity", "Add", "Sub", "Mul", "Div");

    private final String value;
    private final String source;
    private final GraphView graph;
    private final List<Node> nodes;

    private ShapeComputation(String value, String source, GraphView graph, List<Node> nodes) {
        this.value = value;
        this.source = source;
        this.graph = graph;
        this.nodes = nodes;
    }

    /**
     * The computation of {@code value} from the shape of {@code source} and constants, if that is
     * what produces it: every node on the way is one of the supported ops, there is a Shape and
     * every Shape reads {@code source}, and no intermediate value is used outside the computation
     * (so the nodes belong to whoever reads {@code value}).
     */
    public static Optional<ShapeComputation> of(String value, String source, GraphView graph) {
        if (graph.isConstant(value)) {
            return Optional.empty();
        }
        Set<Node> found = Collections.newSetFromMap(new IdentityHashMap<>());
        if (!collect(value, source, graph, found)
                || found.stream().noneMatch(n -> n.opType().equals("Shape"))) {
            return Optional.empty(); // not from the shape (a constant expression is refused as before)
        }
        for (Node n : found) {
            for (String o : n.outputs()) {
                if (o.isEmpty() || o.equals(value)) {
                    continue;
                }
                if (graph.isGraphOutput(o) || !graph.consumers(o).stream().allMatch(found::contains)) {
                    return Optional.empty();
                }
            }
        }
        return Optional.of(new ShapeComputation(value, source, graph, graph.sorted(found)));
    }

    private static boolean collect(String value, String source, GraphView graph, Set<Node> found) {
        if (value.isEmpty() || graph.initializer(value).isPresent()) {
            return true;
        }
        Optional<Node> producer = graph.graph().producer(value);
        if (producer.isEmpty()) {
            return false; // a graph input other than through Shape
        }
        Node n = producer.get();
        if (!n.isDefaultDomain() || !OPS.contains(n.opType())) {
            return false;
        }
        if (!found.add(n)) {
            return true;
        }
        if (n.opType().equals("Shape")) {
            return source == null || n.inputs().get(0).equals(source);
        }
        for (String in : n.inputs()) {
            if (!collect(in, source, graph, found)) {
                return false;
            }
        }
        return true;
    }

    /** The nodes of the computation, in topological order (Constant nodes it owns included). */
    public List<Node> nodes() {
        return nodes;
    }

    /**
     * The value as a Reshape target for an input of shape {@code sourceShape}: known sizes as
     * numbers, and a symbolic size of the source that lands at its own position as 0 ("copy the
     * input's dimension", ONNX Reshape without allowzero).
     *
     * @throws UnsupportedOpException when the value cannot be worked out, or a symbolic size would
     *     move to another position
     */
    public long[] reshapeTarget(Node reshape, List<Dim> sourceShape) {
        Vector v = evaluate(value, input -> sourceShape, reshape);
        if (v.scalar()) {
            throw Shapes.unsupported(reshape, "takes a scalar as its target shape");
        }
        long[] target = new long[v.elements().size()];
        for (int i = 0; i < target.length; i++) {
            Element e = v.elements().get(i);
            if (e.known()) {
                target[i] = e.value();
            } else if (e.sourceAxis() == i) {
                target[i] = 0;
            } else {
                throw Shapes.unsupported(reshape, e.sourceAxis() >= 0 ? "moves dimension " + e.sourceAxis() + " of '"
                        + source + "' (" + sourceShape.get(e.sourceAxis()) + ", not a fixed size) to position " + i
                        + " of its target shape" : "puts " + e.term() + " (sizes of '" + source + "' "
                        + Shapes.format(sourceShape) + " that are not fixed) at position " + i + " of its target shape");
            }
        }
        return target;
    }

    /**
     * One element of a shape vector: a number times the sizes of some activations' axes that are
     * not fixed ({@code symbols}, none for a number), such as the batch size times the number of
     * heads.
     */
    private record Element(long value, List<Symbol> symbols) {
        Element {
            symbols = List.copyOf(symbols);
        }

        static Element of(long value) {
            return new Element(value, List.of());
        }

        boolean known() {
            return symbols.isEmpty();
        }

        /** The axis of the source this element is the size of, or -1 when it is something else. */
        int sourceAxis() {
            return symbols.size() == 1 && value == 1 ? symbols.get(0).axis() : -1;
        }

        Term term() {
            return new Term(value, symbols.stream().map(Symbol::dim).toList());
        }
    }

    /** The size of axis {@code axis} of an activation, {@code dim} (not fixed). */
    private record Symbol(int axis, Dim dim) {
    }

    /**
     * A shape element as worked out from symbolic sizes: {@code factor} times the product of
     * {@code symbols} (activations' dimensions that are not fixed); a plain number when there are
     * none.
     */
    public record Term(long factor, List<Dim> symbols) {
        public Term {
            symbols = List.copyOf(symbols);
        }

        public boolean known() {
            return symbols.isEmpty();
        }

        /** Whether this is exactly {@code factor} times the product of {@code dims}, in any order. */
        public boolean is(long expectedFactor, Dim... dims) {
            List<Dim> rest = new ArrayList<>(symbols);
            for (Dim d : dims) {
                if (!rest.remove(d)) {
                    return false;
                }
            }
            return rest.isEmpty() && factor == expectedFactor;
        }

        @Override
        public String toString() {
            StringBuilder sb = new StringBuilder();
            if (factor != 1 || symbols.isEmpty()) {
                sb.append(factor);
            }
            for (Dim d : symbols) {
                sb.append(sb.length() > 0 ? "*" : "").append(d);
            }
            return sb.toString();
        }
    }

    /** A 1-D shape vector, or a scalar (one element). */
    private record Vector(List<Element> elements, boolean scalar) {
    }

    private Vector evaluate(String v, Function<String, List<Dim>> shapes, Node reshape) {
        Optional<Tensor> constant = graph.constant(v);
        if (constant.isPresent()) {
            Tensor t = constant.get();
            long[] values;
            try {
                values = t.toLongs();
            } catch (RuntimeException e) {
                throw Shapes.unsupported(reshape, "computes its target shape from '" + v + "', which is not an integer"
                        + " tensor");
            }
            List<Element> out = new ArrayList<>();
            for (long x : values) {
                out.add(Element.of(x));
            }
            return new Vector(out, t.rank() == 0);
        }
        Node n = graph.graph().producer(v).orElseThrow();
        List<String> in = n.inputs();
        return switch (n.opType()) {
            case "Shape" -> {
                List<Dim> sourceShape = shapes.apply(in.get(0));
                int rank = sourceShape.size();
                int start = shapeBound(n.longAttribute("start", 0), rank);
                int end = shapeBound(n.longAttribute("end", rank), rank);
                List<Element> out = new ArrayList<>();
                for (int i = start; i < Math.max(start, end); i++) {
                    Dim d = sourceShape.get(i);
                    out.add(d.isFixed() ? Element.of(d.value()) : new Element(1, List.of(new Symbol(i, d))));
                }
                yield new Vector(out, false);
            }
            case "Identity", "Cast" -> evaluate(in.get(0), shapes, reshape);
            case "Gather" -> {
                if (n.longAttribute("axis", 0) != 0) {
                    throw Shapes.unsupported(reshape, "computes its target shape with a Gather on axis "
                            + n.longAttribute("axis", 0));
                }
                Vector data = evaluate(in.get(0), shapes, reshape);
                Vector indices = evaluate(in.get(1), shapes, reshape);
                List<Element> out = new ArrayList<>();
                for (Element index : indices.elements()) {
                    if (!index.known()) {
                        throw Shapes.unsupported(reshape, "gathers with an index that is not a constant");
                    }
                    out.add(data.elements().get(axis(index.value(), data.elements().size())));
                }
                yield new Vector(out, indices.scalar());
            }
            case "Unsqueeze" -> new Vector(evaluate(in.get(0), shapes, reshape).elements(), false);
            case "Squeeze" -> {
                Vector x = evaluate(in.get(0), shapes, reshape);
                if (x.elements().size() != 1) {
                    throw Shapes.unsupported(reshape, "squeezes a shape vector of " + x.elements().size()
                            + " elements");
                }
                yield new Vector(x.elements(), true);
            }
            case "Concat" -> {
                List<Element> out = new ArrayList<>();
                for (String part : in) {
                    out.addAll(evaluate(part, shapes, reshape).elements());
                }
                yield new Vector(out, false);
            }
            case "Slice" -> slice(n, evaluate(in.get(0), shapes, reshape), shapes, reshape);
            case "Add", "Sub", "Mul", "Div" -> arithmetic(n, evaluate(in.get(0), shapes, reshape),
                    evaluate(in.get(1), shapes, reshape), reshape);
            default -> throw Shapes.unsupported(reshape, "computes its target shape with " + n.opType());
        };
    }

    private Vector slice(Node n, Vector data, Function<String, List<Dim>> shapes, Node reshape) {
        List<String> in = n.inputs();
        if (in.size() < 3) {
            throw Shapes.unsupported(reshape, "computes its target shape with a Slice of an old opset");
        }
        long start = single(evaluate(in.get(1), shapes, reshape), reshape);
        long end = single(evaluate(in.get(2), shapes, reshape), reshape);
        long step = in.size() > 4 && !in.get(4).isEmpty() ? single(evaluate(in.get(4), shapes, reshape), reshape)
                : 1;
        if (step != 1) {
            throw Shapes.unsupported(reshape, "computes its target shape with a Slice of step " + step);
        }
        int size = data.elements().size();
        int from = (int) Math.max(0, Math.min(size, start < 0 ? start + size : start));
        int to = (int) Math.max(0, Math.min(size, end < 0 ? end + size : end));
        return new Vector(new ArrayList<>(data.elements().subList(from, Math.max(from, to))), false);
    }

    private static Vector arithmetic(Node n, Vector a, Vector b, Node reshape) {
        int size = Math.max(a.elements().size(), b.elements().size());
        if (a.elements().size() != size && a.elements().size() != 1
                || b.elements().size() != size && b.elements().size() != 1) {
            throw Shapes.unsupported(reshape, "computes its target shape with a " + n.opType() + " of vectors of "
                    + a.elements().size() + " and " + b.elements().size() + " elements");
        }
        List<Element> out = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            Element x = a.elements().get(a.elements().size() == 1 ? 0 : i);
            Element y = b.elements().get(b.elements().size() == 1 ? 0 : i);
            if (n.opType().equals("Mul")) {
                List<Symbol> symbols = new ArrayList<>(x.symbols());
                symbols.addAll(y.symbols());
                out.add(new Element(x.value() * y.value(), symbols));
                continue;
            }
            if (n.opType().equals("Div") && y.known() && y.value() != 0 && x.value() % y.value() == 0) {
                out.add(new Element(x.value() / y.value(), x.symbols())); // also a multiple of a symbolic size
                continue;
            }
            if (!x.known() || !y.known()) {
                throw Shapes.unsupported(reshape, "computes its target shape with a " + n.opType()
                        + " of a size that is not fixed");
            }
            long r = switch (n.opType()) {
                case "Add" -> x.value() + y.value();
                case "Sub" -> x.value() - y.value();
                default -> {
                    if (y.value() == 0) {
                        throw Shapes.unsupported(reshape, "divides by zero while computing its target shape");
                    }
                    yield x.value() / y.value();
                }
            };
            out.add(Element.of(r));
        }
        return new Vector(out, a.scalar() && b.scalar());
    }

    private static long single(Vector v, Node reshape) {
        if (v.elements().size() != 1 || !v.elements().get(0).known()) {
            throw Shapes.unsupported(reshape, "computes its target shape with a Slice whose bounds are not single"
                    + " constants");
        }
        return v.elements().get(0).value();
    }

    /** Shape's start/end: negative counts from the back, then clamped to [0, rank]. */
    private static int shapeBound(long a, int rank) {
        long r = a < 0 ? a + rank : a;
        return (int) Math.max(0, Math.min(rank, r));
    }

    private static int axis(long a, int size) {
        long r = a < 0 ? a + size : a;
        return (int) Math.max(0, Math.min(size - 1L, r));
    }

    /**
     * The nodes computing {@code value} from the shapes of any activations and constants (Shape
     * and the supported ops), in topological order, or empty when something else produces it. Unlike
     * {@link #of}, several activations' shapes may take part and the nodes may be shared with
     * other computations; the caller decides who owns them.
     */
    public static Optional<List<Node>> nodesFromShapes(String value, GraphView graph) {
        if (graph.isConstant(value)) {
            return Optional.of(List.of());
        }
        Set<Node> found = Collections.newSetFromMap(new IdentityHashMap<>());
        if (!collect(value, null, graph, found)) {
            return Optional.empty();
        }
        return Optional.of(graph.sorted(found));
    }

    /**
     * {@code value} as the elements of a Reshape target, with the shapes of the activations its
     * Shape nodes read from {@code shapes}: a known number n as {@code Dim.of(n)} (so 0 still
     * means "copy" and -1, {@link Dim#UNKNOWN}, "infer"), a size that is not fixed as that
     * activation's symbolic dimension.
     */
    public static List<Dim> targetElements(String value, GraphView graph, Function<String, List<Dim>> shapes,
                                           Node reshape) {
        ShapeComputation c = new ShapeComputation(value, null, graph, List.of());
        List<Dim> out = new ArrayList<>();
        for (Element e : c.evaluate(value, shapes, reshape).elements()) {
            out.add(e.known() ? (e.value() < 0 ? Dim.UNKNOWN : Dim.of(e.value()))
                    : e.sourceAxis() >= 0 ? e.symbols().get(0).dim() : Dim.UNKNOWN);
        }
        return out;
    }

    /**
     * {@code value}'s elements as {@link Term}s, with the shapes of the activations its Shape
     * nodes read from {@code shapes}: products of numbers and of sizes that are not fixed are kept
     * as such (a batch size times the number of heads).
     */
    public static List<Term> terms(String value, GraphView graph, Function<String, List<Dim>> shapes, Node reshape) {
        ShapeComputation c = new ShapeComputation(value, null, graph, List.of());
        return c.evaluate(value, shapes, reshape).elements().stream().map(Element::term).toList();
    }

    /**
     * Reshape's output shape for {@code input} when its target is computed from the shapes of
     * activations ({@code shapes}), which need not be the input's own (attention reshapes q by
     * the shape of the value its projection read).
     */
    public static List<Dim> reshaped(Node reshape, List<Dim> input, GraphView graph,
                                     Function<String, List<Dim>> shapes) {
        List<Dim> elements = targetElements(reshape.inputs().get(1), graph, shapes, reshape);
        long[] target = new long[elements.size()];
        boolean inferred = elements.contains(Dim.UNKNOWN);
        int symbolAt = -1;
        for (int i = 0; i < target.length; i++) {
            Dim e = elements.get(i);
            if (e.isFixed()) {
                target[i] = e.value();
            } else if (e.equals(Dim.UNKNOWN)) {
                target[i] = -1;
            } else if (i < input.size() && input.get(i).equals(e)) {
                target[i] = 0;
            } else if (!inferred) {
                // a named size where the input's axis is another one (Swin's windows merged into the batch
                // and split out again): inferred from the element count, and named as it is
                target[i] = -1;
                inferred = true;
                symbolAt = i;
            } else if (i < input.size() && Shapes.alike(input.get(i), e)) {
                target[i] = 0;
            } else {
                throw Shapes.unsupported(reshape, "moves the size " + e + " to position " + i + " of its target shape");
            }
        }
        List<Dim> out = new ArrayList<>(Shapes.reshape(reshape, input, target,
                reshape.longAttribute("allowzero", 0) != 0));
        if (symbolAt >= 0) {
            out.set(symbolAt, elements.get(symbolAt));
        }
        return out;
    }

    @Override
    public String toString() {
        return "ShapeComputation[" + value + " from the shape of " + source + ": "
                + Arrays.toString(nodes.stream().map(Node::opType).toArray()) + "]";
    }
}
