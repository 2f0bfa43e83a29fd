package org.onnxfuse.fusion.baseline;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.onnxfuse.fusion.plan.InputLayout;

/**
 * How one parent's neurons in a neuron space (at a cut, for a chain) make up the fused model's
 * neurons there: fused neuron i = sum_s coefficient(i, s) * parent neuron source(i, s). A
 * permutation has one source per fused neuron with coefficient 1; an optimal-transport plan T
 * (fused x parent, row sums a_i) gives the barycentric projection, coefficients T_ij / a_i (each
 * row sums to 1). The same map is applied to the neuron's incoming weights (columns of every
 * level writing the space, bias included), to the input rows of every level reading it and to
 * per-neuron parameters ({@link SpaceAlignment}), so a permutation keeps the parent's function
 * exactly.
 */
public final class NeuronMap {
    private final int sourceWidth;
    private final int[][] sources;
    private final double[][] coefficients;

    private NeuronMap(int sourceWidth, int[][] sources, double[][] coefficients) {
        this.sourceWidth = sourceWidth;
        this.sources = sources;
        this.coefficients = coefficients;
    }

    /** Fused neuron i is parent neuron {@code source[i]}; {@code source} must be injective. */
    public static NeuronMap permutation(int[] source, int sourceWidth) {
        boolean[] seen = new boolean[sourceWidth];
        int[][] s = new int[source.length][];
        double[][] c = new double[source.length][];
        for (int i = 0; i < source.length; i++) {
            if (source[i] < 0 || source[i] >= sourceWidth || seen[source[i]]) {
                throw new IllegalArgumentException("not an injective map into " + sourceWidth + " neurons: "
                        + Arrays.toString(source));
            }
            seen[source[i]] = true;
            s[i] = new int[] {source[i]};
            c[i] = new double[] {1};
        }
        return new NeuronMap(sourceWidth, s, c);
    }

    public static NeuronMap identity(int width) {
        int[] p = new int[width];
        Arrays.setAll(p, i -> i);
        return permutation(p, width);
    }

    /** The barycentric projection of a transport plan {@code flow} (fused x parent, integer units). */
    public static NeuronMap barycentric(long[][] flow, int sourceWidth) {
        int[][] s = new int[flow.length][];
        double[][] c = new double[flow.length][];
        for (int i = 0; i < flow.length; i++) {
            long total = 0;
            List<Integer> js = new ArrayList<>();
            for (int j = 0; j < sourceWidth; j++) {
                if (flow[i][j] > 0) {
                    js.add(j);
                    total += flow[i][j];
                }
            }
            if (total == 0) {
                throw new IllegalArgumentException("fused neuron " + i + " receives no mass from the parent");
            }
            s[i] = js.stream().mapToInt(Integer::intValue).toArray();
            c[i] = new double[s[i].length];
            for (int t = 0; t < s[i].length; t++) {
                c[i][t] = (double) flow[i][s[i][t]] / total;
            }
        }
        return new NeuronMap(sourceWidth, s, c);
    }

    /** Fused neurons. */
    public int width() {
        return sources.length;
    }

    /** Parent neurons. */
    public int sourceWidth() {
        return sourceWidth;
    }

    /** The parent neurons fused neuron {@code i} is made of. */
    public int[] sources(int i) {
        return sources[i].clone();
    }

    public double[] coefficients(int i) {
        return coefficients[i].clone();
    }

    /** Whether every fused neuron is exactly one parent neuron. */
    public boolean isPermutation() {
        return Arrays.stream(sources).allMatch(s -> s.length == 1);
    }

    /** For a permutation: the parent neuron of each fused neuron. */
    public int[] permutation() {
        if (!isPermutation()) {
            throw new IllegalStateException("not a permutation");
        }
        return Arrays.stream(sources).mapToInt(s -> s[0]).toArray();
    }

    /**
     * A level's rows x sourceWidth weights with the columns mapped: rows x width. A fused neuron
     * with one source of coefficient 1 is an exact copy (negative zeros included).
     */
    double[][] mapColumns(double[][] w) {
        double[][] out = new double[w.length][width()];
        for (int r = 0; r < w.length; r++) {
            if (w[r].length != sourceWidth) {
                throw new IllegalArgumentException("row of " + w[r].length + " columns for " + sourceWidth + " neurons");
            }
            for (int i = 0; i < width(); i++) {
                double s = coefficients[i][0] * w[r][sources[i][0]];
                for (int t = 1; t < sources[i].length; t++) {
                    s += coefficients[i][t] * w[r][sources[i][t]];
                }
                out[r][i] = s;
            }
        }
        return out;
    }

    /** {@link #mapStackedRows} of this map alone: the input rows of a level that reads one cut. */
    double[][] mapInputRows(double[][] w, boolean hasBias, InputLayout layout) {
        return mapStackedRows(List.of(this), w, hasBias, layout);
    }

    /**
     * A level's weights with the input rows mapped. The input features belong to the neurons of
     * {@code slices}' parent cuts stacked in order (one cut, or a Concat's inputs) as {@code layout}
     * says: one row per neuron for a dense layer, H*W rows after a Flatten of [N, C, H, W], kernel
     * offsets for a Conv. A bias row after them is kept.
     */
    static double[][] mapStackedRows(List<NeuronMap> slices, double[][] w, boolean hasBias, InputLayout layout) {
        int features = w.length - (hasBias ? 1 : 0);
        long copies = layout.featuresPerNeuron();
        int sourceTotal = slices.stream().mapToInt(NeuronMap::sourceWidth).sum();
        int total = slices.stream().mapToInt(NeuronMap::width).sum();
        if (features != sourceTotal * copies) {
            throw new IllegalArgumentException(features + " input rows for " + sourceTotal + " neurons of " + copies);
        }
        int cols = w.length == 0 ? 0 : w[0].length;
        double[][] out = new double[Math.toIntExact(total * copies) + (hasBias ? 1 : 0)][];
        int sourceOffset = 0;
        int offset = 0;
        for (NeuronMap m : slices) {
            for (int i = 0; i < m.width(); i++) {
                for (long c = 0; c < copies; c++) {
                    double[] row = new double[cols];
                    double[] first = w[layout.feature(m.sources[i][0], sourceOffset, sourceTotal, c)];
                    double a0 = m.coefficients[i][0];
                    for (int col = 0; col < cols; col++) {
                        row[col] = a0 * first[col];
                    }
                    for (int t = 1; t < m.sources[i].length; t++) {
                        double a = m.coefficients[i][t];
                        double[] src = w[layout.feature(m.sources[i][t], sourceOffset, sourceTotal, c)];
                        for (int col = 0; col < cols; col++) {
                            row[col] += a * src[col];
                        }
                    }
                    out[layout.feature(i, offset, total, c)] = row;
                }
            }
            sourceOffset += m.sourceWidth;
            offset += m.width();
        }
        if (hasBias) {
            out[out.length - 1] = w[w.length - 1].clone();
        }
        return out;
    }

    /** Per-neuron values of the stacked {@code slices}' parent cuts (a per-neuron op's parameters), mapped. */
    static double[] mapStackedValues(List<NeuronMap> slices, double[] v) {
        int sourceTotal = slices.stream().mapToInt(NeuronMap::sourceWidth).sum();
        if (v.length != sourceTotal) {
            throw new IllegalArgumentException(v.length + " values for " + sourceTotal + " neurons");
        }
        double[] out = new double[slices.stream().mapToInt(NeuronMap::width).sum()];
        int sourceOffset = 0;
        int offset = 0;
        for (NeuronMap m : slices) {
            double[] slice = Arrays.copyOfRange(v, sourceOffset, sourceOffset + m.sourceWidth);
            System.arraycopy(m.mapColumns(new double[][] {slice})[0], 0, out, offset, m.width());
            sourceOffset += m.sourceWidth;
            offset += m.width();
        }
        return out;
    }
}
