package org.onnxfuse.fusion.group;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OnnxFuseException;

/**
 * How K-means gets its distances (ALGORITHM.md section 3), by its command-line name. Both forms
 * compute the same distances (identities in W), up to rounding.
 */
public enum GroupingForm {
    /**
     * {@link #GRAM} while its m x m matrices fit {@link #gramFits}, else {@link #CROSS} while its one
     * fits {@link #crossFits}, else {@link #FACTOR}.
     */
    AUTO("auto"),
    /**
     * C = S_xa<sup>T</sup> W and G = W<sup>T</sup> S_xx W (m x m each) built once at O(d m<sup>2</sup>),
     * after which an iteration costs O(m<sup>2</sup>); the statistics keep S_aa (m x m) too.
     */
    GRAM("gram"),
    /**
     * The factor form with C = S_xa<sup>T</sup> W (m x m) built once at O(d m<sup>2</sup>) and kept:
     * an iteration then adds the members' columns of C (O(m<sup>2</sup>)) instead of forming
     * S_xa<sup>T</sup> V (O(m k d)), and takes the centroids' quadratic terms from the factors
     * (O(d m)), so neither G nor S_aa is held. For levels where the Gram form's four m x m
     * matrices do not fit but one does.
     */
    CROSS("cross"),
    /**
     * Distances from the centroids' weights V = W U (d x k) each iteration, O(m k d), in
     * O(m d + m k) memory; the statistics keep only the diagonal of S_aa ({@link FactorKMeans}).
     */
    FACTOR("factor");

    /**
     * m x m matrices of doubles the Gram form holds at its peak: S_aa, C and G, and one product
     * while they are made.
     */
    static final int GRAM_MATRICES_AT_PEAK = 4;
    /**
     * The cross form's share of the heap: C, the statistics (S_xx, S_xa) and the fit (W and the
     * parents' W0) within five eighths, leaving the frontier cache its quarter
     * (StatisticsCollector.frontierHeapBudget) and an eighth for the models and the collector.
     */
    static final double CROSS_HEAP_SHARE = 5.0 / 8.0;

    private final String cliName;

    GroupingForm(String cliName) {
        this.cliName = cliName;
    }

    public String cliName() {
        return cliName;
    }

    /**
     * The form a level of m neurons (all parents') and fan-in d (the statistics' inputs, the ones
     * column included) is grouped in: this one unless {@link #AUTO}, which takes the Gram form when
     * {@link #gramFits} with a quarter of {@code maxHeapBytes}, else the cross form when
     * {@link #crossFits}, else the factor form. The Gram form is the fastest whenever it fits and
     * the cross form next: a factor iteration costs O(m k d) against their one-off O(d
     * m<sup>2</sup>) (and O(m<sup>2</sup>) per iteration), and k-means runs tens of iterations over
     * its restarts, so the factor form is for memory, not speed.
     */
    public GroupingForm resolve(int neurons, long fanIn, long width, long maxHeapBytes) {
        if (this != AUTO) {
            return this;
        }
        if (gramFits(neurons, maxHeapBytes / 4)) {
            return GRAM;
        }
        return crossFits(neurons, fanIn, width, maxHeapBytes) ? CROSS : FACTOR;
    }

    /**
     * Whether the level's statistics (S_xx, S_xa), its fit (W, W0), C and the steps' kept C U (m x
     * k, k = {@code width}) fit {@link #CROSS_HEAP_SHARE} of the heap.
     */
    static boolean crossFits(long neurons, long fanIn, long width, long maxHeapBytes) {
        double m = neurons;
        double d = fanIn;
        double k = width;
        return Double.BYTES * (m * m + m * k + 3 * d * m + d * d) <= CROSS_HEAP_SHARE * maxHeapBytes;
    }

    /** The form a level is grouped in, from its neurons (all parents'), fan-in and fused width. */
    @FunctionalInterface
    public interface Rule {
        GroupingForm of(long neurons, long fanIn, long width);
    }

    /** Whether this form's statistics keep only the diagonal of S_aa (it builds no G). */
    public boolean factored() {
        return this == FACTOR || this == CROSS;
    }

    /** Whether the Gram form's {@link #GRAM_MATRICES_AT_PEAK} m x m matrices fit in {@code budgetBytes}. */
    static boolean gramFits(int neurons, long budgetBytes) {
        return (double) GRAM_MATRICES_AT_PEAK * Double.BYTES * neurons * neurons <= budgetBytes;
    }

    /** The form called {@code name} on the command line: auto, gram or factor. */
    public static GroupingForm fromName(String name) {
        String wanted = name.strip().toLowerCase(Locale.ROOT);
        return Arrays.stream(values()).filter(f -> f.cliName.equals(wanted)).findFirst()
                .orElseThrow(() -> new OnnxFuseException(ErrorCode.USAGE, "unknown grouping form '" + name
                        + "'; expected one of " + names()));
    }

    public static List<String> names() {
        return Arrays.stream(values()).map(GroupingForm::cliName).toList();
    }
}
