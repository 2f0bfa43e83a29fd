package org.onnxfuse.fusion.train;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The ordered, immutable description of what a segment trains. Values that go with it are
 * {@code float[][]}, one flat array per parameter in this order; the trainer owns them (its
 * current, best and initial values, the gradients and the optimiser's moments) and an
 * {@link Objective} only reads or writes them during a call.
 */
public record ParameterLayout(List<ParameterSpec> parameters) {
    public ParameterLayout {
        parameters = List.copyOf(parameters);
        Set<String> names = new HashSet<>();
        for (ParameterSpec p : parameters) {
            if (!names.add(p.name())) {
                throw new IllegalArgumentException("parameter names: expected each once, found '" + p.name()
                        + "' twice");
            }
        }
    }

    public static ParameterLayout of(ParameterSpec... parameters) {
        return new ParameterLayout(List.of(parameters));
    }

    public int count() {
        return parameters.size();
    }

    public ParameterSpec get(int index) {
        return parameters.get(index);
    }

    /** All values of all parameters. */
    public long totalSize() {
        return parameters.stream().mapToLong(ParameterSpec::size).sum();
    }

    /** New zero values in this layout. */
    public float[][] zeros() {
        float[][] values = new float[parameters.size()][];
        for (int i = 0; i < values.length; i++) {
            values[i] = new float[parameters.get(i).size()];
        }
        return values;
    }

    /**
     * A deep copy of {@code values}, checked against this layout.
     *
     * @throws IllegalArgumentException when the number of arrays or their lengths do not fit
     */
    public float[][] copyOf(float[][] values) {
        requireFits(values, "values");
        float[][] copy = new float[values.length][];
        for (int i = 0; i < values.length; i++) {
            copy[i] = values[i].clone();
        }
        return copy;
    }

    /** Copies {@code from} into {@code to}, both in this layout. */
    static void copy(float[][] from, float[][] to) {
        for (int i = 0; i < from.length; i++) {
            System.arraycopy(from[i], 0, to[i], 0, from[i].length);
        }
    }

    void requireFits(float[][] values, String what) {
        if (values.length != parameters.size()) {
            throw new IllegalArgumentException("parameter " + what + ": expected " + parameters.size()
                    + " arrays, one per parameter, found " + values.length);
        }
        for (int i = 0; i < values.length; i++) {
            ParameterSpec p = parameters.get(i);
            if (values[i].length != p.size()) {
                throw new IllegalArgumentException("parameter " + what + " of '" + p.name() + "' " + p.shape()
                        + ": expected " + p.size() + " values, found " + values[i].length);
            }
        }
    }
}
