package org.onnxfuse.fusion.collect;

import java.util.Arrays;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.ir.Node;

/**
 * A Conv node's sliding window along its r spatial axes, as ONNX defines it: kernel, strides,
 * dilations and either explicit {@code pads} (r begins, then r ends) or an {@code auto_pad} mode
 * (SAME_UPPER puts the odd extra pad at the end, SAME_LOWER at the beginning; VALID pads nothing).
 */
public record ConvWindow(long[] kernel, long[] strides, long[] dilations, long[] pads, String autoPad) {
    public ConvWindow {
        kernel = kernel.clone();
        strides = strides.clone();
        dilations = dilations.clone();
        pads = pads.clone();
        int r = kernel.length;
        if (strides.length != r || dilations.length != r || pads.length != 2 * r) {
            throw new IllegalArgumentException("kernel " + Arrays.toString(kernel) + " with strides "
                    + Arrays.toString(strides) + ", dilations " + Arrays.toString(dilations) + ", pads "
                    + Arrays.toString(pads) + " of other lengths");
        }
    }

    /** The window of {@code conv}, whose weight has spatial dimensions {@code kernel}. */
    public static ConvWindow of(Node conv, long[] kernel) {
        int r = kernel.length;
        long[] ones = new long[r];
        Arrays.fill(ones, 1);
        String autoPad = conv.stringAttribute("auto_pad", "NOTSET");
        if (autoPad.isEmpty()) {
            autoPad = "NOTSET";
        }
        if (!Arrays.asList("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER").contains(autoPad)) {
            throw new ModelFormatException(ErrorCode.INVALID_MODEL, "node '" + conv.name() + "' (Conv) has auto_pad '"
                    + autoPad + "'; expected NOTSET, VALID, SAME_UPPER or SAME_LOWER");
        }
        return new ConvWindow(kernel, conv.longsAttribute("strides", ones), conv.longsAttribute("dilations", ones),
                conv.longsAttribute("pads", new long[2 * r]), autoPad);
    }

    public int rank() {
        return kernel.length;
    }

    private long effective(int axis) {
        return dilations[axis] * (kernel[axis] - 1) + 1;
    }

    /** Output size along spatial {@code axis} for an input of {@code size}. */
    public long outputSize(int axis, long size) {
        long s = strides[axis];
        return switch (autoPad) {
            case "SAME_UPPER", "SAME_LOWER" -> (size + s - 1) / s;
            case "VALID" -> size >= effective(axis) ? (size - effective(axis)) / s + 1 : 0;
            default -> {
                long span = size + pads[axis] + pads[axis + rank()] - effective(axis);
                yield span < 0 ? 0 : span / s + 1;
            }
        };
    }

    /** Padding before the first input element along {@code axis}. */
    public long padBegin(int axis, long size) {
        return switch (autoPad) {
            case "VALID" -> 0;
            case "SAME_UPPER", "SAME_LOWER" -> {
                long total = Math.max(0, (outputSize(axis, size) - 1) * strides[axis] + effective(axis) - size);
                yield autoPad.equals("SAME_UPPER") ? total / 2 : total - total / 2;
            }
            default -> pads[axis];
        };
    }

    @Override
    public String toString() {
        return "kernel " + Arrays.toString(kernel) + ", strides " + Arrays.toString(strides) + ", dilations "
                + Arrays.toString(dilations) + ", " + (autoPad.equals("NOTSET") ? "pads " + Arrays.toString(pads)
                : "auto_pad " + autoPad);
    }
}
