package org.onnxfuse.fusion.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxfuse.fusion.plan.ConstantFolding;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.fusion.testing.ModelEdits;
import org.onnxfuse.fusion.testing.Npy;
import org.onnxfuse.fusion.testing.Npz;
import org.onnxfuse.fusion.testing.PaddedRows;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.io.OnnxReader;
import org.onnxfuse.onnx.io.OnnxWriter;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * The masked attention fixtures through the real command line: the int64 {@code attention_mask} of
 * test-models/models/mha/int64_attention_mask_op17.onnx planned and fused from a {@code .npz}, the fused
 * file run again in ONNX Runtime; a mask array of the wrong dtype or shape refused before any work,
 * naming the input, what it expected and what it found, with the kind's exit code and no output file
 * (for the bool mask of key_padding_mask_op17.onnx too).
 */
class Int64AttentionMaskCliTest {
    private static final String INT64 = "mha/int64_attention_mask_op17.onnx";
    private static final String BOOL = "mha/key_padding_mask_op17.onnx";

    @TempDir
    Path dir;

    private final CliRunner cli = new CliRunner();

    /** The fixture as parent 0 (the file as exported) and its neuron-permuted copy as parent 1. */
    private String[] parents(String file) {
        Path b = dir.resolve("b.onnx");
        OnnxWriter.write(ModelEdits.permuted(ConstantFolding.fold(Fixtures.read(file)), 11), b);
        return new String[] {Fixtures.model(file).toString(), b.toString()};
    }

    @Test
    void planListsTheInt64MaskAsPassedThrough() {
        assertEquals(0, cli.run("plan", Fixtures.model(INT64).toString()), cli.err.toString());
        assertTrue(cli.out.toString().startsWith("int64_attention_mask_op17.onnx: inputs 'input' [batch, 1, 28, 28]"
                + " FLOAT, 'attention_mask' [batch, 28] INT64 (passed through) -> output 'logits' [batch, 10], 8"
                + " levels"), cli.out.toString());
    }

    @Test
    void fusesFromAnNpzWithAnInt64MaskAndTheFileRunsWithIt() {
        String[] p = parents(INT64);
        Path calib = PaddedRows.int64Mask(dir.resolve("calib.npz"), "attention_mask", 200, 300, 0, true);
        Path test = PaddedRows.int64Mask(dir.resolve("test.npz"), "attention_mask", 0, 200, 3, true);
        Path out = dir.resolve("fused.onnx");
        int exit = cli.run(p[0], p[1], "--data", calib.toString(), "--threads", "2", "--no-check", "-o",
                out.toString(), "--quiet");
        assertEquals(0, exit, cli.err.toString());
        Model fused = OnnxReader.read(out);
        Model parent = Fixtures.read(INT64);
        ValueInfo mask = fused.graph().feedInputs().get(1);
        assertEquals("attention_mask", mask.name());
        assertEquals(parent.graph().feedInputs().get(1).tensorType(), mask.tensorType(),
                "the int64 input passes through: type and shape [batch, 28]");
        float[] expected = Fixtures.logits(parent, test);
        double diff = Fixtures.maxAbsDifference(expected, Fixtures.logits(fused, test))
                / Math.max(1, Fixtures.maxAbsDifference(expected, new float[expected.length]));
        System.out.println("onnx-fuse kf-linear, parent and permuted copy, fused file: max abs logit difference "
                + diff);
        assertTrue(diff < 1e-4, "the fused file computes the parent under the mask: " + diff);
    }

    private void expectRefused(ErrorCode code, String message, String file, Map<String, byte[]> arrays) {
        Path data = Npz.write(dir.resolve("calib.npz"), arrays);
        Path out = dir.resolve("fused.onnx");
        String[] p = parents(file);
        int exit = cli.run(p[0], p[1], "--data", data.toString(), "-o", out.toString(), "--quiet");
        String err = cli.err.toString();
        assertEquals(code.exitCode(), exit, err);
        assertTrue(err.contains("onnx-fuse: error: ") && err.contains(message), "'" + message + "' not in: " + err);
        assertFalse(Files.exists(out), "no output file on error");
    }

    /** 20 blank images as {@code input} and {@code mask} as the mask array. */
    private static Map<String, byte[]> images(String maskName, byte[] mask) {
        Map<String, byte[]> arrays = new LinkedHashMap<>();
        arrays.put("input", Npy.floats(new long[] {20, 1, 28, 28}, new float[20 * 784]));
        arrays.put(maskName, mask);
        return arrays;
    }

    @Test
    void aFloatAttentionMaskIsRefusedNamingTheInputAndBothDtypes() {
        expectRefused(ErrorCode.DATA_DTYPE, "calib.npz:attention_mask: dtype float32 does not match model input"
                + " 'attention_mask' of element type INT64; expected an integer array (int64,", INT64,
                images("attention_mask", Npy.floats(new long[] {20, 28}, new float[20 * 28])));
    }

    @Test
    void anAttentionMaskOfTheWrongShapeIsRefusedNamingTheInputAndBothShapes() {
        expectRefused(ErrorCode.DATA_SHAPE, "calib.npz:attention_mask: shape [20, 27] does not match model input"
                + " 'attention_mask' [batch, 28]; expected [N, 28]", INT64,
                images("attention_mask", Npy.longs(new long[] {20, 27}, new long[20 * 27])));
    }

    @Test
    void anInt64ArrayForTheBoolMaskIsRefusedNamingTheInputAndBothDtypes() {
        expectRefused(ErrorCode.DATA_DTYPE, "calib.npz:mask: dtype int64 does not match model input 'mask' of element"
                + " type BOOL; expected a bool array", BOOL,
                images("mask", Npy.longs(new long[] {20, 28}, new long[20 * 28])));
    }
}
