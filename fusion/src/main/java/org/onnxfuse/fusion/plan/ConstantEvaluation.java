package org.onnxfuse.fusion.plan;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.onnxfuse.fusion.ops.GraphView;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.HalfFloats;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorType;

/**
 * The value of one node whose inputs are all constants, for the ops exporters compute constants
 * with (see {@link ConstantFolding}). Element types stay exact, and every result is what ONNX
 * Runtime computes bit for bit: float arithmetic in float, integer arithmetic wrapping in the
 * element type. Forms whose result could differ (float16 arithmetic, float Range, a Cast out of
 * the target's range, integer division by zero) are left to ONNX Runtime: the node is not folded.
 * Identity, Reshape, Squeeze and Unsqueeze share their input's data instead of copying it, so
 * folding an Identity of a 400 MB weight costs nothing.
 *
 * <p>Both attribute and input forms of Squeeze, Unsqueeze (axes), Slice (starts, ends, axes) and
 * Reshape (shape) are read, so the opset need not be known.
 */
final class ConstantEvaluation {
    /**
     * Largest result computed here (a 4096 x 4096 weight): bigger ones are left to ONNX Runtime.
     * A few bytes of ConstantOfShape, Range or broadcasting arithmetic could otherwise ask for
     * gigabytes.
     */
    static final long MAX_ELEMENTS = 1L << 24;

    private static final Set<String> OPS = Set.of("Constant", "Identity", "Cast", "Unsqueeze", "Squeeze", "Concat",
            "Gather", "Reshape", "Shape", "Slice", "Add", "Sub", "Mul", "Div", "Transpose", "ConstantOfShape",
            "Range", "Equal", "Where");

    /** A node this evaluator does not compute: it stays in the graph. Carries no stack trace. */
    private static final class NotFoldable extends RuntimeException {
        NotFoldable() {
            super(null, null, false, false);
        }
    }

    private final Node node;
    private final List<Tensor> inputs;
    private final String output;

    private ConstantEvaluation(Node node, List<Tensor> inputs) {
        this.node = node;
        this.inputs = inputs;
        this.output = node.outputs().get(0);
    }

    /**
     * The outputs of {@code node}, named as its outputs, when it is one of the supported ops and
     * all its inputs are in {@code constants} (an omitted input counts; a Shape may instead read a
     * value whose declared shape in {@code graph} is fully fixed); empty otherwise.
     *
     * @throws ModelFormatException when the constants do not fit the op (shapes that do not
     *     broadcast or concatenate, an index out of range, a Reshape that changes the element count)
     */
    static Optional<List<Tensor>> evaluate(Node node, Map<String, Tensor> constants, Graph graph) {
        if (!node.isDefaultDomain() || !OPS.contains(node.opType()) || node.outputs().size() != 1
                || node.outputs().get(0).isEmpty()) {
            return Optional.empty();
        }
        List<Tensor> inputs = new ArrayList<>();
        for (String in : node.inputs()) {
            Tensor t = in.isEmpty() ? null : constants.get(in);
            if (t == null && !in.isEmpty()) {
                if (!node.opType().equals("Shape")) {
                    return Optional.empty();
                }
                Optional<long[]> fixed = fixedShape(graph, in);
                if (fixed.isEmpty()) {
                    return Optional.empty();
                }
                // only the shape is read: a stand-in without data
                t = new Tensor(in, DataType.FLOAT, fixed.get(), null, "", null);
            } else if (t != null && (t.data() == null || !t.dataType().isNumericDecodable())) {
                return Optional.empty();
            }
            inputs.add(t);
        }
        ConstantEvaluation evaluation = new ConstantEvaluation(node, inputs);
        try {
            return Optional.of(List.of(evaluation.compute()));
        } catch (NotFoldable e) {
            return Optional.empty();
        } catch (ArithmeticException e) {
            throw evaluation.invalid("expected shapes whose element counts fit 64 bits, found one that overflows"
                    + " (inputs " + evaluation.describeInputs() + ")");
        }
    }

    private static Optional<long[]> fixedShape(Graph graph, String value) {
        Optional<TensorType> type = graph.declaredType(value);
        if (type.isEmpty() || !type.get().hasShape() || !type.get().shape().stream().allMatch(Dim::isFixed)) {
            return Optional.empty();
        }
        return Optional.of(type.get().shape().stream().mapToLong(Dim::value).toArray());
    }

    private Tensor compute() {
        return switch (node.opType()) {
            case "Constant" -> constant();
            case "Identity" -> input(0).withName(output);
            case "Cast" -> cast();
            case "Unsqueeze" -> unsqueeze();
            case "Squeeze" -> squeeze();
            case "Reshape" -> reshape();
            case "Shape" -> shape();
            case "Concat" -> concat();
            case "Gather" -> gather();
            case "Slice" -> slice();
            case "Transpose" -> transpose();
            case "Add", "Sub", "Mul", "Div" -> arithmetic();
            case "ConstantOfShape" -> constantOfShape();
            case "Range" -> range();
            case "Equal" -> equal();
            case "Where" -> where();
            default -> throw new NotFoldable();
        };
    }

    // ------------------------------------------------------------------ inputs and errors

    private Tensor input(int index) {
        if (index >= inputs.size() || inputs.get(index) == null) {
            throw invalid("input " + index + " is missing; expected a tensor");
        }
        return inputs.get(index);
    }

    private boolean hasInput(int index) {
        return index < inputs.size() && inputs.get(index) != null;
    }

    private long[] integers(int index) {
        Tensor t = input(index);
        if (!isInteger(t.dataType())) {
            throw invalid("input " + index + " '" + t.name() + "' is " + t.dataType() + "; expected an integer type");
        }
        return t.toLongs();
    }

    private String describeInputs() {
        return inputs.stream().map(t -> t == null ? "omitted" : t.dataType() + Arrays.toString(t.dims())).toList()
                .toString();
    }

    private ModelFormatException invalid(String what) {
        return new ModelFormatException(ErrorCode.INVALID_MODEL, "node " + GraphView.quote(node) + ": " + what);
    }

    private static boolean isInteger(DataType t) {
        return switch (t) {
            case INT8, UINT8, INT16, UINT16, INT32, UINT32, INT64, UINT64 -> true;
            default -> false;
        };
    }

    private static boolean isFloat(DataType t) {
        return t == DataType.FLOAT || t == DataType.DOUBLE || t == DataType.FLOAT16 || t == DataType.BFLOAT16;
    }

    private int axis(long axis, int rank) {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) {
            throw invalid("axis " + axis + " is out of range for rank " + rank + "; expected -" + rank + " to "
                    + (rank - 1));
        }
        return (int) a;
    }

    // ------------------------------------------------------------------ ops

    private Tensor constant() {
        Tensor value = GraphView.constantValue(node, output).orElseThrow(NotFoldable::new);
        if (value.data() == null || !value.dataType().isNumericDecodable()) {
            throw new NotFoldable();
        }
        return value.withName(output);
    }

    /** The same data under new dims: shared, not copied. */
    private Tensor reshaped(Tensor t, long[] dims) {
        if (Tensor.elementCount(dims) != t.elementCount()) {
            throw invalid("reshapes " + Arrays.toString(t.dims()) + " (" + t.elementCount() + " elements) to "
                    + Arrays.toString(dims) + " (" + Tensor.elementCount(dims) + " elements); expected the same count");
        }
        return new Tensor(output, t.dataType(), dims, t.data(), "", null);
    }

    private long[] axesInput(int index) {
        Optional<Attribute> attribute = node.attribute("axes");
        if (attribute.isPresent()) {
            return attribute.get().asLongs();
        }
        return hasInput(index) ? integers(index) : null;
    }

    private Tensor unsqueeze() {
        Tensor x = input(0);
        long[] axes = axesInput(1);
        if (axes == null) {
            throw invalid("has no axes; expected an axes attribute (before opset 13) or input");
        }
        int rank = x.rank() + axes.length;
        boolean[] inserted = new boolean[rank];
        for (long a : axes) {
            int at = axis(a, rank);
            if (inserted[at]) {
                throw invalid("axis " + a + " is listed twice; expected distinct axes");
            }
            inserted[at] = true;
        }
        long[] dims = new long[rank];
        for (int i = 0, from = 0; i < rank; i++) {
            dims[i] = inserted[i] ? 1 : x.dim(from++);
        }
        return reshaped(x, dims);
    }

    private Tensor squeeze() {
        Tensor x = input(0);
        long[] axes = axesInput(1);
        boolean[] removed = new boolean[x.rank()];
        for (int i = 0; i < x.rank(); i++) {
            removed[i] = axes == null && x.dim(i) == 1;
        }
        if (axes != null) {
            for (long a : axes) {
                int at = axis(a, x.rank());
                if (x.dim(at) != 1) {
                    throw invalid("squeezes axis " + a + " of " + Arrays.toString(x.dims()) + "; expected a size of 1,"
                            + " found " + x.dim(at));
                }
                removed[at] = true;
            }
        }
        long[] dims = new long[x.rank()];
        int kept = 0;
        for (int i = 0; i < x.rank(); i++) {
            if (!removed[i]) {
                dims[kept++] = x.dim(i);
            }
        }
        return reshaped(x, Arrays.copyOf(dims, kept));
    }

    private Tensor reshape() {
        Tensor x = input(0);
        long[] target = hasInput(1) ? integers(1)
                : node.attribute("shape").map(Attribute::asLongs).orElseThrow(() -> invalid("has no target shape"));
        boolean allowZero = node.longAttribute("allowzero", 0) != 0;
        long[] dims = target.clone();
        int inferred = -1;
        long known = 1;
        for (int i = 0; i < dims.length; i++) {
            if (dims[i] == 0 && !allowZero) {
                if (i >= x.rank()) {
                    throw invalid("target " + Arrays.toString(target) + " copies dimension " + i + " of "
                            + Arrays.toString(x.dims()) + ", which has only " + x.rank());
                }
                dims[i] = x.dim(i);
            }
            if (dims[i] == -1) {
                if (inferred >= 0) {
                    throw invalid("target " + Arrays.toString(target) + " has more than one -1; expected at most one");
                }
                inferred = i;
            } else if (dims[i] < 0) {
                throw invalid("target " + Arrays.toString(target) + " has the size " + dims[i]
                        + "; expected sizes of -1 or more");
            } else {
                known *= dims[i];
            }
        }
        if (inferred >= 0) {
            if (known == 0 || x.elementCount() % known != 0) {
                throw invalid("cannot reshape " + Arrays.toString(x.dims()) + " to " + Arrays.toString(target));
            }
            dims[inferred] = x.elementCount() / known;
        }
        return reshaped(x, dims);
    }

    private Tensor shape() {
        long[] dims = input(0).dims();
        int rank = dims.length;
        int start = shapeBound(node.longAttribute("start", 0), rank);
        int end = shapeBound(node.longAttribute("end", rank), rank);
        long[] out = Arrays.copyOfRange(dims, start, Math.max(start, end));
        return Tensor.ofLongs(output, new long[] {out.length}, out);
    }

    /** Shape's start and end: negative counts from the back, then clamped to [0, rank]. */
    private static int shapeBound(long bound, int rank) {
        long b = bound < 0 ? bound + rank : bound;
        return (int) Math.max(0, Math.min(rank, b));
    }

    private Tensor concat() {
        Tensor first = input(0);
        if (node.attribute("axis").isEmpty()) {
            throw invalid("has no axis attribute; expected one");
        }
        int axis = axis(node.longAttribute("axis", 0), first.rank());
        long[] dims = first.dims();
        dims[axis] = 0;
        for (int i = 0; i < inputs.size(); i++) {
            Tensor t = input(i);
            boolean fits = t.dataType() == first.dataType() && t.rank() == first.rank();
            for (int d = 0; fits && d < t.rank(); d++) {
                fits = d == axis || t.dim(d) == first.dim(d);
            }
            if (!fits) {
                throw invalid("input " + i + " is " + t.dataType() + Arrays.toString(t.dims()) + " where input 0 is "
                        + first.dataType() + Arrays.toString(first.dims()) + "; expected the same type and sizes"
                        + " except on axis " + axis);
            }
            dims[axis] += t.dim(axis);
        }
        int size = elementSize(first.dataType());
        long outer = Tensor.elementCount(Arrays.copyOf(dims, axis));
        ByteBuffer out = allocate(first.dataType(), dims);
        List<byte[]> parts = new ArrayList<>();
        for (Tensor t : inputs) {
            parts.add(bytes(t));
        }
        for (long o = 0; o < outer; o++) {
            for (int i = 0; i < parts.size(); i++) {
                int block = parts.get(i).length / (int) Math.max(1, outer);
                out.put(parts.get(i), (int) (o * block), block);
            }
        }
        return Tensor.ofRawBytes(output, first.dataType(), dims, out.array());
    }

    private Tensor gather() {
        Tensor data = input(0);
        if (data.rank() == 0) {
            throw invalid("gathers from a scalar; expected rank 1 or more");
        }
        int axis = axis(node.longAttribute("axis", 0), data.rank());
        long[] indices = integers(1);
        long[] indexDims = input(1).dims();
        long size = data.dim(axis);
        long[] dims = new long[data.rank() - 1 + indexDims.length];
        System.arraycopy(data.dims(), 0, dims, 0, axis);
        System.arraycopy(indexDims, 0, dims, axis, indexDims.length);
        System.arraycopy(data.dims(), axis + 1, dims, axis + indexDims.length, data.rank() - axis - 1);
        int elementSize = elementSize(data.dataType());
        int block = Math.toIntExact(Tensor.elementCount(Arrays.copyOfRange(data.dims(), axis + 1, data.rank()))
                * elementSize);
        long outer = Tensor.elementCount(Arrays.copyOf(data.dims(), axis));
        byte[] source = bytes(data);
        ByteBuffer out = allocate(data.dataType(), dims);
        for (long o = 0; o < outer; o++) {
            for (long index : indices) {
                long i = index < 0 ? index + size : index;
                if (i < 0 || i >= size) {
                    throw invalid("index " + index + " is out of range for axis " + axis + " of size " + size);
                }
                out.put(source, (int) ((o * size + i) * block), block);
            }
        }
        return Tensor.ofRawBytes(output, data.dataType(), dims, out.array());
    }

    private Tensor slice() {
        Tensor data = input(0);
        long[] starts;
        long[] ends;
        long[] axes;
        long[] steps = null;
        if (node.attribute("starts").isPresent()) {
            starts = node.longsAttribute("starts", null);
            ends = node.longsAttribute("ends", null);
            axes = node.longsAttribute("axes", null);
        } else {
            starts = integers(1);
            ends = integers(2);
            axes = hasInput(3) ? integers(3) : null;
            steps = hasInput(4) ? integers(4) : null;
        }
        if (ends == null || ends.length != starts.length || axes != null && axes.length != starts.length
                || steps != null && steps.length != starts.length) {
            throw invalid("has " + starts.length + " starts, " + (ends == null ? 0 : ends.length) + " ends"
                    + (axes == null ? "" : ", " + axes.length + " axes") + (steps == null ? "" : ", "
                    + steps.length + " steps") + "; expected as many of each");
        }
        int rank = data.rank();
        long[] first = new long[rank];
        long[] step = new long[rank];
        long[] dims = data.dims();
        Arrays.fill(step, 1);
        boolean[] seen = new boolean[rank];
        for (int i = 0; i < starts.length; i++) {
            int a = axis(axes == null ? i : axes[i], rank);
            if (seen[a]) {
                throw invalid("slices axis " + a + " twice; expected distinct axes");
            }
            seen[a] = true;
            long s = steps == null ? 1 : steps[i];
            if (s == 0) {
                throw invalid("has a step of 0 on axis " + a + "; expected a non-zero step");
            }
            long size = data.dim(a);
            long begin = starts[i] < 0 ? starts[i] + size : starts[i];
            long end = ends[i] < 0 ? ends[i] + size : ends[i];
            if (s > 0) {
                begin = Math.max(0, Math.min(size, begin));
                end = Math.max(0, Math.min(size, end));
                dims[a] = Math.max(0, (end - begin + s - 1) / s);
            } else {
                begin = Math.max(0, Math.min(size - 1, begin));
                end = Math.max(-1, Math.min(size - 1, end));
                dims[a] = Math.max(0, (begin - end + (-s) - 1) / (-s));
            }
            first[a] = begin;
            step[a] = s;
        }
        long[] strides = strides(data.dims());
        long base = 0;
        long[] outStrides = new long[rank];
        for (int a = 0; a < rank; a++) {
            base += first[a] * strides[a];
            outStrides[a] = step[a] * strides[a];
        }
        return rearranged(data, dims, outStrides, base);
    }

    private Tensor transpose() {
        Tensor data = input(0);
        int rank = data.rank();
        long[] perm = node.longsAttribute("perm", null);
        if (perm == null) {
            perm = new long[rank];
            for (int i = 0; i < rank; i++) {
                perm[i] = rank - 1 - i;
            }
        }
        long[] sorted = perm.clone();
        Arrays.sort(sorted);
        for (int i = 0; i < sorted.length; i++) {
            if (sorted.length != rank || sorted[i] != i) {
                throw invalid("perm " + Arrays.toString(perm) + " is not a permutation of the " + rank + " axes of "
                        + Arrays.toString(data.dims()));
            }
        }
        long[] strides = strides(data.dims());
        long[] dims = new long[rank];
        long[] outStrides = new long[rank];
        for (int i = 0; i < rank; i++) {
            dims[i] = data.dim((int) perm[i]);
            outStrides[i] = strides[(int) perm[i]];
        }
        return rearranged(data, dims, outStrides, 0);
    }

    private Tensor constantOfShape() {
        long[] dims = integers(0);
        for (long d : dims) {
            if (d < 0) {
                throw invalid("shape " + Arrays.toString(dims) + " has a negative size");
            }
        }
        Tensor value = node.attribute("value").map(Attribute::asTensor)
                .orElseGet(() -> Tensor.ofFloats("value", new long[] {1}, new float[] {0f}));
        if (value.elementCount() != 1 || value.data() == null || !value.dataType().isNumericDecodable()) {
            throw new NotFoldable();
        }
        byte[] one = bytes(value);
        ByteBuffer out = allocate(value.dataType(), dims);
        while (out.hasRemaining()) {
            out.put(one);
        }
        return Tensor.ofRawBytes(output, value.dataType(), dims, out.array());
    }

    /** Equal of integers (shape arithmetic: torch's expand(-1, H, -1, -1) compares the sizes with -1). */
    private Tensor equal() {
        Tensor a = input(0);
        Tensor b = input(1);
        if (a.dataType() != b.dataType() || !isInteger(a.dataType())) {
            throw new NotFoldable();
        }
        long[] dims = broadcast(a.dims(), b.dims());
        int[] ia = sourceIndices(dims, broadcastStrides(a.dims(), dims), 0);
        int[] ib = sourceIndices(dims, broadcastStrides(b.dims(), dims), 0);
        long[] x = a.toLongs();
        long[] y = b.toLongs();
        byte[] r = new byte[ia.length];
        for (int i = 0; i < r.length; i++) {
            r[i] = (byte) (x[ia[i]] == y[ib[i]] ? 1 : 0);
        }
        return Tensor.ofRawBytes(output, DataType.BOOL, dims, r);
    }

    /** Where choosing between integers (shape arithmetic); a float Where (a mask's fill) is left to run. */
    private Tensor where() {
        Tensor c = input(0);
        Tensor a = input(1);
        Tensor b = input(2);
        if (c.dataType() != DataType.BOOL || a.dataType() != b.dataType() || !isInteger(a.dataType())) {
            throw new NotFoldable();
        }
        long[] dims = broadcast(broadcast(c.dims(), a.dims()), b.dims());
        int[] ic = sourceIndices(dims, broadcastStrides(c.dims(), dims), 0);
        int[] ia = sourceIndices(dims, broadcastStrides(a.dims(), dims), 0);
        int[] ib = sourceIndices(dims, broadcastStrides(b.dims(), dims), 0);
        ByteBuffer cond = c.data().rawBytes().duplicate();
        long[] x = a.toLongs();
        long[] y = b.toLongs();
        long[] r = new long[ic.length];
        for (int i = 0; i < r.length; i++) {
            r[i] = cond.get(cond.position() + ic[i]) != 0 ? x[ia[i]] : y[ib[i]];
        }
        return integerTensor(a.dataType(), dims, r);
    }

    /** Integer Range only: ONNX Runtime accumulates float ranges step by step, not start + i * delta. */
    private Tensor range() {
        DataType type = input(0).dataType();
        if (type != DataType.INT16 && type != DataType.INT32 && type != DataType.INT64) {
            throw new NotFoldable();
        }
        long start = scalar(0);
        long limit = scalar(1);
        long delta = scalar(2);
        if (delta == 0) {
            throw invalid("has a delta of 0; expected a non-zero delta");
        }
        long count = Math.max(0, delta > 0 ? Math.addExact(Math.subtractExact(limit, start), delta - 1) / delta
                : Math.subtractExact(Math.subtractExact(start, limit), Math.addExact(delta, 1)) / Math.negateExact(delta));
        if (count > MAX_ELEMENTS) {
            throw new NotFoldable();
        }
        long[] values = new long[(int) count];
        for (int i = 0; i < values.length; i++) {
            values[i] = start + i * delta;
        }
        return integerTensor(type, new long[] {count}, values);
    }

    private long scalar(int index) {
        Tensor t = input(index);
        if (t.elementCount() != 1 || t.dataType() != input(0).dataType()) {
            throw invalid("input " + index + " is " + t.dataType() + Arrays.toString(t.dims()) + "; expected a scalar"
                    + " of " + input(0).dataType());
        }
        return t.toLongs()[0];
    }

    // ------------------------------------------------------------------ Cast

    private Tensor cast() {
        Tensor x = input(0);
        DataType to = DataType.fromCode((int) node.longAttribute("to", 0));
        if (to == null || !((isFloat(to) && to != DataType.BFLOAT16) || isInteger(to) || to == DataType.BOOL)) {
            throw new NotFoldable();
        }
        if (to == x.dataType()) {
            return x.withName(output);
        }
        boolean fromFloat = isFloat(x.dataType());
        if (isInteger(to) || to == DataType.BOOL) {
            double[] f = fromFloat ? x.toDoubles() : null;
            long[] l = fromFloat ? new long[f.length] : x.toLongs();
            for (int i = 0; i < l.length; i++) {
                if (to == DataType.BOOL) {
                    l[i] = (fromFloat ? f[i] != 0 : l[i] != 0) ? 1 : 0;
                } else if (fromFloat) {
                    l[i] = truncated(f[i], to);
                }
            }
            return integerTensor(to, x.dims(), l);
        }
        return floatingTensor(to, x.dims(), fromFloat ? x.toDoubles() : exactDoubles(x));
    }

    /**
     * Integer elements as doubles, which hold them exactly up to 2^53; a larger one would be
     * rounded twice on its way to float, so the node is left to ONNX Runtime.
     */
    private static double[] exactDoubles(Tensor t) {
        long[] l = t.toLongs();
        double[] d = new double[l.length];
        for (int i = 0; i < l.length; i++) {
            if (l[i] > 1L << 53 || l[i] < -(1L << 53)) {
                throw new NotFoldable(); // also UINT64 past 2^63, which reads as negative
            }
            d[i] = l[i];
        }
        return d;
    }

    /** Float to integer truncates toward zero, as C++ does; outside the target's range C++ has no answer. */
    private static long truncated(double v, DataType to) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            throw new NotFoldable();
        }
        double t = v < 0 ? Math.ceil(v) : Math.floor(v);
        boolean unsigned = to == DataType.UINT8 || to == DataType.UINT16 || to == DataType.UINT32
                || to == DataType.UINT64;
        // [min, limit) of the target; 2^63 also bounds UINT64, since (long) saturates there
        double min = unsigned ? 0 : -Math.pow(2, to.bits() - 1);
        double limit = Math.min(0x1p63, unsigned ? Math.pow(2, to.bits()) : Math.pow(2, to.bits() - 1));
        if (t < min || t >= limit) {
            throw new NotFoldable();
        }
        return (long) t;
    }

    // ------------------------------------------------------------------ arithmetic

    private Tensor arithmetic() {
        Tensor a = input(0);
        Tensor b = input(1);
        if (a.dataType() != b.dataType()) {
            throw invalid("its operands are " + a.dataType() + " and " + b.dataType() + "; expected one type");
        }
        DataType type = a.dataType();
        if (type != DataType.FLOAT && type != DataType.DOUBLE && !isInteger(type)) {
            throw new NotFoldable();
        }
        long[] dims = broadcast(a.dims(), b.dims());
        int[] ia = sourceIndices(dims, broadcastStrides(a.dims(), dims), 0);
        int[] ib = sourceIndices(dims, broadcastStrides(b.dims(), dims), 0);
        String op = node.opType();
        if (isInteger(type)) {
            long[] x = a.toLongs();
            long[] y = b.toLongs();
            long[] r = new long[ia.length];
            for (int i = 0; i < r.length; i++) {
                r[i] = integerArithmetic(op, type, x[ia[i]], y[ib[i]]);
            }
            return integerTensor(type, dims, r);
        }
        // float operands are computed in double and rounded once: a double holds more than twice
        // float's precision, so that is exactly float arithmetic
        double[] x = a.toDoubles();
        double[] y = b.toDoubles();
        double[] r = new double[ia.length];
        for (int i = 0; i < r.length; i++) {
            double p = x[ia[i]];
            double q = y[ib[i]];
            r[i] = switch (op) {
                case "Add" -> p + q;
                case "Sub" -> p - q;
                case "Mul" -> p * q;
                default -> p / q;
            };
        }
        return floatingTensor(type, dims, r);
    }

    /** Integer arithmetic wrapping in the element type, as ONNX Runtime's C++ does. */
    private static long integerArithmetic(String op, DataType type, long p, long q) {
        return switch (op) {
            case "Add" -> p + q;
            case "Sub" -> p - q;
            case "Mul" -> p * q;
            default -> {
                if (q == 0) {
                    throw new NotFoldable(); // ONNX Runtime refuses it at run time
                }
                yield type == DataType.UINT64 ? Long.divideUnsigned(p, q) : p / q;
            }
        };
    }

    private long[] broadcast(long[] a, long[] b) {
        int rank = Math.max(a.length, b.length);
        long[] out = new long[rank];
        for (int i = 0; i < rank; i++) {
            long x = i < rank - a.length ? 1 : a[i - (rank - a.length)];
            long y = i < rank - b.length ? 1 : b[i - (rank - b.length)];
            if (x != y && x != 1 && y != 1) {
                throw invalid("its operands of shapes " + Arrays.toString(a) + " and " + Arrays.toString(b)
                        + " do not broadcast: expected equal sizes or 1 on each axis");
            }
            out[i] = x == 1 ? y : x;
        }
        return out;
    }

    /** Strides of {@code dims} read as {@code out}'s leading-1-padded broadcast: 0 where a size of 1 is repeated. */
    private static long[] broadcastStrides(long[] dims, long[] out) {
        long[] own = strides(dims);
        long[] result = new long[out.length];
        int shift = out.length - dims.length;
        for (int i = shift; i < out.length; i++) {
            result[i] = dims[i - shift] == 1 ? 0 : own[i - shift];
        }
        return result;
    }

    // ------------------------------------------------------------------ element layout

    private static long[] strides(long[] dims) {
        long[] s = new long[dims.length];
        long step = 1;
        for (int i = dims.length - 1; i >= 0; i--) {
            s[i] = step;
            step *= dims[i];
        }
        return s;
    }

    /** For every element of an {@code outDims} tensor in row-major order, where it is read from. */
    private static int[] sourceIndices(long[] outDims, long[] strides, long base) {
        int count = (int) foldableCount(outDims);
        int[] out = new int[count];
        long[] index = new long[outDims.length];
        long at = base;
        for (int i = 0; i < count; i++) {
            out[i] = Math.toIntExact(at);
            for (int d = outDims.length - 1; d >= 0; d--) {
                index[d]++;
                at += strides[d];
                if (index[d] < outDims[d]) {
                    break;
                }
                at -= index[d] * strides[d];
                index[d] = 0;
            }
        }
        return out;
    }

    /** A tensor of {@code dims} whose elements are read from {@code data} at the given strides. */
    private Tensor rearranged(Tensor data, long[] dims, long[] strides, long base) {
        int size = elementSize(data.dataType());
        byte[] source = bytes(data);
        ByteBuffer out = allocate(data.dataType(), dims);
        for (int i : sourceIndices(dims, strides, base)) {
            out.put(source, i * size, size);
        }
        return Tensor.ofRawBytes(output, data.dataType(), dims, out.array());
    }

    private static int elementSize(DataType type) {
        return type.bits() / 8;
    }

    private static ByteBuffer allocate(DataType type, long[] dims) {
        long bytes = type.rawByteCount(foldableCount(dims));
        return ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The element count of a result, when it is at most {@link #MAX_ELEMENTS}. */
    private static long foldableCount(long[] dims) {
        long count = Tensor.elementCount(dims); // ArithmeticException on overflow: an invalid model
        if (count > MAX_ELEMENTS) {
            throw new NotFoldable();
        }
        return count;
    }

    private static byte[] bytes(Tensor t) {
        long length = t.dataType().rawByteCount(t.elementCount());
        if (length > Integer.MAX_VALUE - 8) {
            throw new NotFoldable();
        }
        byte[] out = new byte[(int) length];
        t.data().rawBytes().get(out);
        return out;
    }

    /** FLOAT, FLOAT16 or DOUBLE elements, each rounded once from its double value. */
    private Tensor floatingTensor(DataType type, long[] dims, double[] values) {
        ByteBuffer out = allocate(type, dims);
        for (double v : values) {
            switch (type) {
                case FLOAT -> out.putFloat((float) v);
                case FLOAT16 -> out.putShort(HalfFloats.floatToHalf((float) v));
                case DOUBLE -> out.putDouble(v);
                default -> throw new IllegalArgumentException(type + " is not FLOAT, FLOAT16 or DOUBLE");
            }
        }
        return Tensor.ofRawBytes(output, type, dims, out.array());
    }

    /** Integer or bool elements, each wrapped to the type's width as C++ narrowing does. */
    private Tensor integerTensor(DataType type, long[] dims, long[] values) {
        ByteBuffer out = allocate(type, dims);
        for (long v : values) {
            switch (elementSize(type)) {
                case 1 -> out.put((byte) v);
                case 2 -> out.putShort((short) v);
                case 4 -> out.putInt((int) v);
                default -> out.putLong(v);
            }
        }
        return Tensor.ofRawBytes(output, type, dims, out.array());
    }
}
