package org.onnxfuse.fusion.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Node;

class ShapesTest {
    private static final Dim B = Dim.symbol("batch");

    private static String pool(long size, Attribute... attributes) {
        Node n = Node.of("p", "MaxPool", List.of("x"), List.of("y"), attributes);
        Shapes.Window w = Shapes.window(n, n.longsAttribute("kernel_shape", null), true);
        return Shapes.format(Shapes.slide(n, List.of(B, Dim.of(3), Dim.of(size)), w, Dim.of(3)));
    }

    @Test
    void slidingWindowSizes() {
        Attribute k3 = Attribute.ofLongs("kernel_shape", 3);
        assertEquals("[batch, 3, 8]", pool(10, k3));
        assertEquals("[batch, 3, 4]", pool(10, k3, Attribute.ofLongs("strides", 2)));
        assertEquals("[batch, 3, 5]", pool(10, k3, Attribute.ofLongs("strides", 2), Attribute.ofLong("ceil_mode", 1)));
        assertEquals("[batch, 3, 5]", pool(10, k3, Attribute.ofLongs("strides", 2), Attribute.ofLongs("pads", 1, 1)));
        assertEquals("[batch, 3, 5]", pool(10, k3, Attribute.ofLongs("strides", 2),
                Attribute.ofString("auto_pad", "SAME_UPPER")));
        assertEquals("[batch, 3, 4]", pool(10, k3, Attribute.ofLongs("strides", 2),
                Attribute.ofString("auto_pad", "VALID")));
        assertEquals("[batch, 3, 6]", pool(10, k3, Attribute.ofLongs("dilations", 2)));
        // with ceil_mode the last window must start inside the input or its left padding
        assertEquals("[batch, 3, 3]", pool(5, Attribute.ofLongs("kernel_shape", 2), Attribute.ofLongs("strides", 2),
                Attribute.ofLong("ceil_mode", 1)));
        assertEquals("[batch, 3, 2]", pool(4, Attribute.ofLongs("kernel_shape", 2), Attribute.ofLongs("strides", 2),
                Attribute.ofLongs("pads", 0, 1), Attribute.ofLong("ceil_mode", 1)));
    }

    @Test
    void flattenAndReshapeKeepTheBatchSymbol() {
        Node n = Node.of("f", "Flatten", List.of("x"), List.of("y"));
        List<Dim> in = List.of(B, Dim.of(16), Dim.of(7), Dim.of(7));
        assertEquals("[batch, 784]", Shapes.format(Shapes.flatten(n, in, 1)));
        assertEquals("[?, 49]", Shapes.format(Shapes.flatten(n, in, -2)));
        assertEquals("[?, 49]", Shapes.format(Shapes.flatten(n, in, 2)));
        assertEquals("[1, batch]", Shapes.format(Shapes.flatten(n, List.of(B), 0)));
        assertEquals("[batch, 784]", Shapes.format(Shapes.reshape(n, in, new long[] {-1, 784}, false)));
        assertEquals("[batch, 784]", Shapes.format(Shapes.reshape(n, in, new long[] {0, -1}, false)));
        assertEquals("[batch, 16, 49]", Shapes.format(Shapes.reshape(n, in, new long[] {0, 16, -1}, false)));
        assertEquals("[2, 784]", Shapes.format(Shapes.reshape(n, List.of(Dim.of(2), Dim.of(16), Dim.of(7), Dim.of(7)),
                new long[] {2, -1}, false)));
        assertThrows(ModelFormatException.class, () -> Shapes.reshape(n,
                List.of(Dim.of(2), Dim.of(3)), new long[] {4, 2}, false));
        assertThrows(ModelFormatException.class, () -> Shapes.reshape(n, in, new long[] {-1, -1}, false));
    }
}
