package org.onnxfuse.fusion.importance;

import java.util.ArrayList;
import java.util.List;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.TensorType;
import org.onnxfuse.onnx.ir.ValueInfo;

/** The graph side of a {@link SegmentLoss}: the inputs it declares and the nodes of its term and of dL/dy. */
final class LossTerms {
    private LossTerms() {
    }

    /** The inputs this loss reads for output {@code y} of shape {@code shape}. */
    static List<ValueInfo> inputs(SegmentLoss loss, String y, List<Dim> shape) {
        TensorType like = new TensorType(DataType.FLOAT, shape);
        if (loss instanceof SegmentLoss.WeightedMse mse) {
            Dim neurons = shape == null ? Dim.UNKNOWN : shape.get(axis(mse, shape.size()));
            return List.of(ValueInfo.tensor(SegmentLoss.targetName(y), like),
                    ValueInfo.tensor(SegmentLoss.weightName(y), new TensorType(DataType.FLOAT, List.of(neurons))));
        }
        if (loss instanceof SegmentLoss.Distillation kl) {
            if (shape != null) {
                classAxis(kl, shape.size());
            }
            return List.of(ValueInfo.tensor(SegmentLoss.targetName(y), like));
        }
        return List.of(ValueInfo.tensor(SegmentLoss.upstreamName(y), like));
    }

    /** Emits this loss's term for output {@code y}, adds dL/dy to y's gradient and returns the (scalar) term. */
    static String emit(SegmentLoss loss, String y, List<Dim> shape, BackwardPass pass) {
        if (loss instanceof SegmentLoss.WeightedMse mse) {
            if (shape == null) {
                throw new IllegalArgumentException("segment output '" + y + "' has an unknown rank; the weighted MSE"
                        + " needs it to find the neuron axis");
            }
            int rank = shape.size();
            int axis = axis(mse, rank);
            List<Long> others = new ArrayList<>();
            long[] weightShape = new long[rank];
            for (int i = 0; i < rank; i++) {
                weightShape[i] = i == axis ? -1 : 1;
                if (i != axis) {
                    others.add((long) i);
                }
            }
            String diff = pass.emit("Sub", List.of(y, SegmentLoss.targetName(y)));
            String perNeuron = pass.emit("ReduceSum", List.of(pass.emit("Mul", List.of(diff, diff)),
                    pass.longs(others.stream().mapToLong(Long::longValue).toArray())), Attribute.ofLong("keepdims", 1));
            String weights = pass.emit("Reshape", List.of(SegmentLoss.weightName(y), pass.longs(weightShape)));
            Attribute toFloat = Attribute.ofLong("to", DataType.FLOAT.code());
            // 1 / (elements per neuron), from y's shape at run time
            String inverseCount = pass.emit("Div", List.of(pass.emit("Cast", List.of(pass.emit("Shape", List.of(y),
                    Attribute.ofLong("start", axis), Attribute.ofLong("end", axis + 1))), toFloat),
                    pass.emit("Cast", List.of(pass.emit("Size", List.of(y))), toFloat)));
            pass.contribute(y, pass.emit("Mul", List.of(pass.emit("Mul", List.of(diff, weights)), pass.emit("Mul",
                    List.of(inverseCount, pass.scalar(2f))))));
            return pass.emit("ReduceSum", List.of(pass.emit("Mul", List.of(pass.emit("Mul", List.of(weights,
                    perNeuron)), inverseCount))), Attribute.ofLong("keepdims", 0));
        }
        if (loss instanceof SegmentLoss.Distillation kl) {
            return distillation(kl, y, shape, pass);
        }
        pass.contribute(y, SegmentLoss.upstreamName(y));
        return pass.emit("ReduceSum", List.of(pass.emit("Mul", List.of(SegmentLoss.upstreamName(y), y))),
                Attribute.ofLong("keepdims", 0));
    }

    /**
     * T^2 / rows * sum p (log max(p, tiny) - logsoftmax(y / T)), and dL/dy = T / rows * (softmax(y / T) - p).
     * The clamp makes p log p exactly 0 where p = 0 (0 * log(tiny) rather than 0 * -inf = NaN).
     */
    private static String distillation(SegmentLoss.Distillation kl, String y, List<Dim> shape, BackwardPass pass) {
        int axis = shape == null ? kl.classAxis() : classAxis(kl, shape.size());
        float t = (float) kl.temperature();
        String p = SegmentLoss.targetName(y);
        Attribute classes = Attribute.ofLong("axis", axis);
        String scaled = pass.emit("Div", List.of(y, pass.scalar(t)));
        String logQ = pass.emit("LogSoftmax", List.of(scaled), classes);
        String q = pass.emit("Softmax", List.of(scaled), classes);
        String logP = pass.emit("Log", List.of(pass.emit("Max", List.of(p, pass.scalar(Float.MIN_NORMAL)))));
        // 1 / rows = (classes) / (elements), from y's shape at run time; Shape's end of -1 + 1 = 0
        // would select nothing, so the last axis (of an unknown rank) is taken up to the end
        Attribute toFloat = Attribute.ofLong("to", DataType.FLOAT.code());
        String classCount = axis == -1 ? pass.emit("Shape", List.of(y), Attribute.ofLong("start", -1))
                : pass.emit("Shape", List.of(y), Attribute.ofLong("start", axis), Attribute.ofLong("end", axis + 1));
        String inverseRows = pass.emit("Div", List.of(pass.emit("Cast", List.of(classCount), toFloat),
                pass.emit("Cast", List.of(pass.emit("Size", List.of(y))), toFloat)));
        pass.contribute(y, pass.emit("Mul", List.of(pass.emit("Sub", List.of(q, p)), pass.emit("Mul",
                List.of(inverseRows, pass.scalar(t))))));
        String pointwise = pass.emit("Mul", List.of(p, pass.emit("Sub", List.of(logP, logQ))));
        return pass.emit("ReduceSum", List.of(pass.emit("Mul", List.of(pointwise, pass.emit("Mul", List.of(inverseRows,
                pass.scalar(t * t)))))), Attribute.ofLong("keepdims", 0));
    }

    private static int classAxis(SegmentLoss.Distillation kl, int rank) {
        int axis = kl.classAxis() < 0 ? kl.classAxis() + rank : kl.classAxis();
        if (axis < 0 || axis >= rank) {
            throw new IllegalArgumentException("class axis " + kl.classAxis() + " is outside an output of rank "
                    + rank);
        }
        return axis;
    }

    private static int axis(SegmentLoss.WeightedMse mse, int rank) {
        int axis = mse.neuronAxis() < 0 ? mse.neuronAxis() + rank : mse.neuronAxis();
        if (axis < 0 || axis >= rank) {
            throw new IllegalArgumentException("neuron axis " + mse.neuronAxis() + " is outside an output of rank "
                    + rank);
        }
        return axis;
    }
}
