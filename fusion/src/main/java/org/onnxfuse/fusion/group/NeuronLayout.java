package org.onnxfuse.fusion.group;

import java.util.Arrays;

/**
 * How the m = n_0 + ... + n_{K-1} columns of one level's targets split into parents: parent 0's
 * neurons first, then parent 1's, and so on (the column order of {@code S_xa} and {@code S_aa}).
 */
public record NeuronLayout(int[] widths) {
    public NeuronLayout {
        if (widths == null || widths.length == 0) {
            throw new IllegalArgumentException("expected the width of at least one parent, found none");
        }
        widths = widths.clone();
        long total = 0;
        for (int k = 0; k < widths.length; k++) {
            if (widths[k] < 1) {
                throw new IllegalArgumentException("parent " + k + " has width " + widths[k] + ", expected >= 1");
            }
            total += widths[k];
        }
        if (total > Integer.MAX_VALUE / 2) {
            throw new IllegalArgumentException("too many neurons in one level: " + total);
        }
    }

    public static NeuronLayout of(int... widths) {
        return new NeuronLayout(widths);
    }

    @Override
    public int[] widths() {
        return widths.clone();
    }

    public int parents() {
        return widths.length;
    }

    public int width(int parent) {
        return widths[parent];
    }

    /** m: all parents' neurons together. */
    public int neurons() {
        int m = 0;
        for (int w : widths) {
            m += w;
        }
        return m;
    }

    /** Index of parent {@code parent}'s first neuron among the m columns. */
    public int offset(int parent) {
        int offset = 0;
        for (int k = 0; k < parent; k++) {
            offset += widths[k];
        }
        return offset;
    }

    /** The parent that neuron (column) {@code neuron} belongs to. */
    public int parentOf(int neuron) {
        int end = 0;
        for (int k = 0; k < widths.length; k++) {
            end += widths[k];
            if (neuron < end) {
                return k;
            }
        }
        throw new IndexOutOfBoundsException("neuron " + neuron + " is outside the " + end + " neurons of " + this);
    }

    /** Throws unless {@code m} (columns of the statistics) equals {@link #neurons()}. */
    void requireNeurons(int m, String what) {
        if (m != neurons()) {
            throw new IllegalArgumentException(what + " has " + m + " target columns, expected " + neurons()
                    + " = the sum of the parents' widths " + Arrays.toString(widths));
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NeuronLayout l && Arrays.equals(l.widths, widths);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(widths);
    }

    @Override
    public String toString() {
        return "NeuronLayout" + Arrays.toString(widths);
    }
}
