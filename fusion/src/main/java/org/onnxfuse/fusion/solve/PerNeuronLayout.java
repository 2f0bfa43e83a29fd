package org.onnxfuse.fusion.solve;

/**
 * Where neuron j and position p sit in a per-neuron constant: the constant's axes are aligned to
 * the activations' from the last (as broadcasting aligns them), its axis under the neurons holds
 * them, and every other axis counts as positions, in row-major order.
 *
 * @param dims      the constant's shape (with the neuron count it is written with)
 * @param neuronDim the constant's own axis that holds the neurons
 */
record PerNeuronLayout(long[] dims, int neuronDim) {
    /**
     * @param constant   the constant's shape as read
     * @param rank       the activations' rank
     * @param neuronAxis the activations' neuron axis
     * @param width      the neuron count to write, or -1 to keep the constant's
     */
    static PerNeuronLayout of(long[] constant, int rank, int neuronAxis, int width) {
        int neuronDim = neuronAxis - (rank - constant.length);
        if (neuronDim < 0 || neuronDim >= constant.length) {
            throw new IllegalArgumentException("a constant of rank " + constant.length + " does not reach neuron axis "
                    + neuronAxis + " of rank-" + rank + " activations");
        }
        long[] dims = constant.clone();
        if (width >= 0) {
            dims[neuronDim] = width;
        }
        return new PerNeuronLayout(dims, neuronDim);
    }

    int neurons() {
        return Math.toIntExact(dims[neuronDim]);
    }

    int positions() {
        long p = 1;
        for (int i = 0; i < dims.length; i++) {
            p *= i == neuronDim ? 1 : dims[i];
        }
        return Math.toIntExact(p);
    }

    /** The row-major index of neuron {@code j} at position {@code p}. */
    int index(int j, int p) {
        long index = 0;
        long stride = 1;
        int rest = p;
        for (int i = dims.length - 1; i >= 0; i--) {
            long coordinate;
            if (i == neuronDim) {
                coordinate = j;
            } else {
                coordinate = rest % dims[i];
                rest /= (int) dims[i];
            }
            index += coordinate * stride;
            stride *= dims[i];
        }
        return Math.toIntExact(index);
    }
}
