package org.onnxfuse.fusion.ops;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.errors.TerminalText;
import org.onnxfuse.onnx.errors.UnsupportedOpException;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/**
 * Shape arithmetic for the ops levels hold. Shapes are lists of {@link Dim}: fixed sizes,
 * symbols (the batch) or unknown; a symbol survives ops that only carry it along (Flatten at
 * axis 1, Gemm, Reshape with 0 or -1 where it is the only symbol).
 */
public final class Shapes {
    private Shapes() {
    }

    /** "[batch, 1, 28, 28]". */
    public static String format(List<Dim> shape) {
        return shape == null ? "?" : shape.stream().map(d -> TerminalText.escape(d.toString()))
                .collect(Collectors.joining(", ", "[", "]"));
    }

    /** Whether two dims can be the same size: equal fixed sizes, or at least one not fixed. */
    public static boolean compatible(Dim a, Dim b) {
        return !a.isFixed() || !b.isFixed() || a.value() == b.value();
    }

    /** Whether two dims are alike across parents: equal fixed sizes, or both not fixed. */
    public static boolean alike(Dim a, Dim b) {
        return a.isFixed() == b.isFixed() && (!a.isFixed() || a.value() == b.value());
    }

    static ModelFormatException invalid(Node node, String what) {
        return new ModelFormatException(ErrorCode.INVALID_MODEL, "node " + GraphView.quote(node) + ": " + what);
    }

    static void requireRank(Node node, List<Dim> input, int minRank, String why) {
        if (input.size() < minRank) {
            throw invalid(node, "input of shape " + format(input) + " has rank " + input.size() + ", expected at least "
                    + minRank + " (" + why + ")");
        }
    }

    /** Normalises a possibly negative axis against {@code rank}. */
    static int axis(Node node, long axis, int rank, boolean inclusiveEnd) {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a > rank || (!inclusiveEnd && a == rank)) {
            throw invalid(node, "axis " + axis + " is out of range for rank " + rank);
        }
        return (int) a;
    }

    /** Product of dims: fixed when all are fixed, the dim itself when it is the only non-1 one, else unknown. */
    static Dim product(List<Dim> dims) {
        long fixed = 1;
        Dim symbolic = null;
        int symbols = 0;
        for (Dim d : dims) {
            if (d.isFixed()) {
                fixed *= d.value();
            } else {
                symbols++;
                symbolic = d;
            }
        }
        if (symbols == 0) {
            return Dim.of(fixed);
        }
        return symbols == 1 && fixed == 1 ? symbolic : Dim.UNKNOWN;
    }

    /** Flatten: [d0..d(axis-1)] and [d(axis)..] each collapsed to one dim. */
    static List<Dim> flatten(Node node, List<Dim> input, long axisAttr) {
        int axis = axis(node, axisAttr, input.size(), true);
        return List.of(product(input.subList(0, axis)), product(input.subList(axis, input.size())));
    }

    /**
     * Reshape to {@code target} (0 copies the input dim unless {@code allowZero}, -1 takes what is left).
     * A symbolic input dim survives when it is the only symbol and the fixed sizes account for the rest.
     */
    public static List<Dim> reshape(Node node, List<Dim> input, long[] target, boolean allowZero) {
        List<Dim> out = new ArrayList<>();
        int inferred = -1;
        List<Dim> unusedSymbols = new ArrayList<>();
        long inFixed = 1;
        for (Dim d : input) {
            if (d.isFixed()) {
                inFixed *= d.value();
            } else {
                unusedSymbols.add(d);
            }
        }
        long outFixed = 1;
        boolean unknown = false;
        for (int i = 0; i < target.length; i++) {
            long t = target[i];
            if (t == -1) {
                if (inferred >= 0) {
                    throw invalid(node, "reshape target " + Arrays.toString(target) + " has more than one -1");
                }
                inferred = i;
                out.add(Dim.UNKNOWN);
            } else if (t == 0 && !allowZero) {
                if (i >= input.size()) {
                    throw invalid(node, "reshape target " + Arrays.toString(target) + " copies dim " + i
                            + " of an input of rank " + input.size());
                }
                Dim d = input.get(i);
                out.add(d);
                if (d.isFixed()) {
                    outFixed *= d.value();
                } else if (!unusedSymbols.remove(d)) {
                    unknown = true;
                }
            } else if (t < 0) {
                throw invalid(node, "reshape target " + Arrays.toString(target) + " has a negative size " + t);
            } else {
                out.add(Dim.of(t));
                outFixed *= t;
            }
        }
        if (inferred >= 0) {
            Dim d = Dim.UNKNOWN;
            if (!unknown && outFixed != 0 && inFixed % outFixed == 0) {
                long ratio = inFixed / outFixed;
                if (unusedSymbols.isEmpty()) {
                    d = Dim.of(ratio);
                } else if (unusedSymbols.size() == 1 && ratio == 1) {
                    d = unusedSymbols.get(0);
                }
            } else if (!unknown && unusedSymbols.isEmpty() && outFixed != 0) {
                throw invalid(node, "cannot reshape " + format(input) + " to " + Arrays.toString(target));
            }
            out.set(inferred, d);
        } else if (unusedSymbols.isEmpty() && !unknown && inFixed != outFixed) {
            throw invalid(node, "cannot reshape " + format(input) + " (" + inFixed + " elements) to "
                    + Arrays.toString(target) + " (" + outFixed + " elements)");
        }
        return out;
    }

    /** Geometry of a sliding-window op (Conv, pooling) along its spatial axes; pads are r begins, then r ends. */
    public record Window(long[] kernel, long[] strides, long[] pads, long[] dilations, String autoPad, boolean ceilMode) {
    }

    /** Reads kernel/strides/pads/dilations/auto_pad/ceil_mode with ONNX defaults. */
    public static Window window(Node node, long[] kernel, boolean ceilModeAllowed) {
        int r = kernel.length;
        long[] strides = node.longsAttribute("strides", ones(r));
        long[] dilations = node.longsAttribute("dilations", ones(r));
        long[] pads = node.longsAttribute("pads", new long[2 * r]);
        String autoPad = node.stringAttribute("auto_pad", "NOTSET");
        boolean ceil = ceilModeAllowed && node.longAttribute("ceil_mode", 0) != 0;
        if (strides.length != r || dilations.length != r || pads.length != 2 * r) {
            throw invalid(node, "kernel of rank " + r + " with strides " + Arrays.toString(strides) + ", dilations "
                    + Arrays.toString(dilations) + ", pads " + Arrays.toString(pads) + " of other lengths");
        }
        switch (autoPad) {
            case "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER", "" -> {
            }
            default -> throw invalid(node, "unknown auto_pad '" + autoPad + "'");
        }
        if (Arrays.stream(kernel).anyMatch(v -> v < 1) || Arrays.stream(strides).anyMatch(v -> v < 1)
                || Arrays.stream(dilations).anyMatch(v -> v < 1) || Arrays.stream(pads).anyMatch(v -> v < 0)) {
            throw invalid(node, "expected kernel sizes, strides and dilations of at least 1 and pads of at least 0,"
                    + " found kernel " + Arrays.toString(kernel) + ", strides " + Arrays.toString(strides)
                    + ", dilations " + Arrays.toString(dilations) + ", pads " + Arrays.toString(pads));
        }
        return new Window(kernel, strides, pads, dilations, autoPad.isEmpty() ? "NOTSET" : autoPad, ceil);
    }

    static long[] ones(int n) {
        long[] a = new long[n];
        Arrays.fill(a, 1);
        return a;
    }

    /** Output spatial dims of a sliding window over {@code input} (spatial axes from 2). */
    public static List<Dim> slide(Node node, List<Dim> input, Window w, Dim channels) {
        int r = w.kernel().length;
        if (input.size() != r + 2) {
            throw invalid(node, "input of shape " + format(input) + " does not fit a " + r + "-d kernel "
                    + Arrays.toString(w.kernel()) + " (expected rank " + (r + 2) + ", [N, C, spatial...])");
        }
        List<Dim> out = new ArrayList<>();
        out.add(input.get(0));
        out.add(channels);
        for (int i = 0; i < r; i++) {
            Dim in = input.get(2 + i);
            if (!in.isFixed()) {
                out.add(Dim.UNKNOWN);
                continue;
            }
            long size = in.value();
            long s = w.strides()[i];
            long o;
            try {
                long effective = Math.addExact(Math.multiplyExact(w.dilations()[i], w.kernel()[i] - 1), 1);
                switch (w.autoPad()) {
                    case "SAME_UPPER", "SAME_LOWER" -> o = ceilDiv(size, s);
                    case "VALID" -> o = size >= effective ? ceilDiv(size - effective + 1, s) : 0;
                    default -> {
                        long padBegin = w.pads()[i];
                        long span = Math.subtractExact(Math.addExact(Math.addExact(size, padBegin), w.pads()[i + r]),
                                effective);
                        if (span < 0) {
                            o = 0;
                        } else if (w.ceilMode()) {
                            o = ceilDiv(span, s) + 1;
                            // the last window must start inside the input or its left padding
                            if ((o - 1) * s >= size + padBegin) {
                                o--;
                            }
                        } else {
                            o = span / s + 1;
                        }
                    }
                }
            } catch (ArithmeticException e) {
                throw invalid(node, "window " + Arrays.toString(w.kernel()) + " with pads " + Arrays.toString(w.pads())
                        + " and dilations " + Arrays.toString(w.dilations()) + " over input " + format(input)
                        + ": expected sizes that fit 64 bits, found ones that overflow");
            }
            if (o <= 0) {
                throw invalid(node, "window " + Arrays.toString(w.kernel()) + " does not fit input " + format(input));
            }
            out.add(Dim.of(o));
        }
        return out;
    }

    private static long ceilDiv(long a, long b) {
        return Math.addExact(a, b - 1) / b;
    }

    static UnsupportedOpException unsupported(Node node, String why) {
        return new UnsupportedOpException(ErrorCode.UNSUPPORTED_OP, "node " + GraphView.quote(node) + " " + why);
    }
}
