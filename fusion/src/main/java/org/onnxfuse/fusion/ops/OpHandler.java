package org.onnxfuse.fusion.ops;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

/**
 * How one ONNX op type (from one opset on) takes part in fusion. Output 0 carries the
 * activation stream; any further output (Dropout's mask, MaxPool's indices) must be unused.
 */
public interface OpHandler {
    /** ONNX domain; "" is the default domain. */
    default String domain() {
        return "";
    }

    String opType();

    /** First opset version of {@link #domain()} this handler applies to. */
    default long sinceOpset() {
        return 1;
    }

    OpRole role();

    /** Name used in the list of supported ops, e.g. "MatMul(+Add)". */
    default String displayName() {
        return opType();
    }

    /** Index of {@code node}'s input that carries the activation stream; every other input is a parameter. */
    default int dataInput(Node node, GraphView graph) {
        return 0;
    }

    /**
     * What the op does to the neuron axis ({@link NeuronFlow}); by default what its role implies:
     * affine ops start a space, output heads end it, everything else preserves it.
     */
    default NeuronFlow neuronFlow(Node node, GraphView graph) {
        return switch (role()) {
            case AFFINE -> NeuronFlow.STARTS;
            case OUTPUT_HEAD -> NeuronFlow.ENDS;
            default -> NeuronFlow.PRESERVES;
        };
    }

    /**
     * For {@link NeuronFlow#TIES} and {@link NeuronFlow#STACKS}: the indices of the inputs that
     * carry activations, and the output shape from their shapes (in that order), with the neuron
     * axis at {@code neuronAxis} in every input.
     */
    default List<Dim> joinedShape(Node node, List<List<Dim>> inputs, int neuronAxis, GraphView graph) {
        throw Shapes.unsupported(node, "it reads " + inputs.size() + " activations; " + opType()
                + " takes one");
    }

    /** The inputs of a join ({@link NeuronFlow#TIES}, {@link NeuronFlow#STACKS}) that carry activations. */
    default List<Integer> joinedInputs(Node node, GraphView graph) {
        return List.of(dataInput(node, graph));
    }

    /**
     * Shape of output 0 given the data input's shape. Throws
     * {@link org.onnxfuse.onnx.errors.UnsupportedOpException} for a form fusion does not handle and
     * {@link org.onnxfuse.onnx.errors.ModelFormatException} for shapes that cannot occur in a valid model.
     */
    List<Dim> outputShape(Node node, List<Dim> input, GraphView graph);

    /**
     * For an op that keeps the neurons ({@link NeuronFlow#PRESERVES}): the axis of output 0 that
     * holds the neurons lying on axis {@code neuronAxis} of its rank-{@code rank} input, where the op
     * moves them (a reduction or a Gather that removes an axis before theirs moves them forward). Empty,
     * the default, where the op leaves that to the planner: the same axis when the rank is kept; Transpose,
     * Flatten and Reshape the planner follows itself.
     */
    default OptionalInt neuronAxisAfter(Node node, int neuronAxis, int rank, GraphView graph) {
        return OptionalInt.empty();
    }

    /**
     * Shape of output 0 when the activation at input {@code activationInput} (neurons on axis
     * {@code neuronAxis} of {@code activation}) meets, at the node's other non-constant inputs, values
     * computed from the model inputs alone ({@link InputData}: a mask), which fusion computes as parent 0
     * does. Such a value cannot follow the fused neurons, so an op may take it only where it treats every
     * neuron alike; for data it cannot take that way the op throws
     * {@link org.onnxfuse.onnx.errors.UnsupportedOpException} naming the reason. Empty, the default, where the
     * op takes no such data: the planner places the node as before (a join refuses it).
     */
    default Optional<List<Dim>> shapeWithInputData(Node node, int activationInput, List<Dim> activation,
                                                   int neuronAxis, List<InputData> data, GraphView graph) {
        return Optional.empty();
    }

    /**
     * Checked when the data input carries neurons on {@code neuronAxis} of a rank-{@code rank}
     * value: throws {@link org.onnxfuse.onnx.errors.UnsupportedOpException} when the op would mix
     * them in a way fusion cannot follow. By default there is nothing to check.
     */
    default void requireNeuronAxis(Node node, int neuronAxis, int rank, GraphView graph) {
    }

    /**
     * The settings that change what the op computes and so must agree across parents, as
     * name -> printable value (kernel_shape, strides, alpha, ...). Empty when there are none.
     */
    default Map<String, String> signature(Node node, GraphView graph) {
        return Map.of();
    }
}
