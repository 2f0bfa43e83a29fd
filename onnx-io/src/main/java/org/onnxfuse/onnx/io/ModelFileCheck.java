package org.onnxfuse.onnx.io;

import com.google.protobuf.InvalidProtocolBufferException;
import ai.onnx.proto.OnnxMl.ModelProto;
import java.util.List;
import java.util.Map;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;

/**
 * Tells a truncated model from random bytes from a protobuf message of another type, both when
 * protobuf-java refuses the bytes and when it accepts them (protobuf accepts far more than ONNX
 * models: an empty file, a TensorProto, a model cut right after a complete field).
 *
 * <p>Protobuf writers emit fields in field-number order, so a model file starts with
 * {@code ir_version} (field 1) and has its graph (7) before {@code opset_import} (8). A file that
 * starts like that and then ends inside a field, or stops right before the graph or right after
 * it, is a model cut short; bytes that break the wire format are not protobuf; well-formed
 * protobuf whose fields have the wrong wire types for a ModelProto is some other message.
 */
final class ModelFileCheck {
    private record Expected(String name, int wireType) {
    }

    private static final Map<Integer, Expected> MODEL_FIELDS = Map.ofEntries(
            Map.entry(ModelProto.IR_VERSION_FIELD_NUMBER, new Expected("ir_version", WireScan.VARINT)),
            Map.entry(ModelProto.PRODUCER_NAME_FIELD_NUMBER, new Expected("producer_name", WireScan.LENGTH_DELIMITED)),
            Map.entry(ModelProto.PRODUCER_VERSION_FIELD_NUMBER, new Expected("producer_version", WireScan.LENGTH_DELIMITED)),
            Map.entry(ModelProto.DOMAIN_FIELD_NUMBER, new Expected("domain", WireScan.LENGTH_DELIMITED)),
            Map.entry(ModelProto.MODEL_VERSION_FIELD_NUMBER, new Expected("model_version", WireScan.VARINT)),
            Map.entry(ModelProto.DOC_STRING_FIELD_NUMBER, new Expected("doc_string", WireScan.LENGTH_DELIMITED)),
            Map.entry(ModelProto.GRAPH_FIELD_NUMBER, new Expected("graph", WireScan.LENGTH_DELIMITED)),
            Map.entry(ModelProto.OPSET_IMPORT_FIELD_NUMBER, new Expected("opset_import", WireScan.LENGTH_DELIMITED)),
            Map.entry(ModelProto.METADATA_PROPS_FIELD_NUMBER, new Expected("metadata_props", WireScan.LENGTH_DELIMITED)),
            Map.entry(ModelProto.TRAINING_INFO_FIELD_NUMBER, new Expected("training_info", WireScan.LENGTH_DELIMITED)),
            Map.entry(ModelProto.FUNCTIONS_FIELD_NUMBER, new Expected("functions", WireScan.LENGTH_DELIMITED)));

    /** ir_version values ONNX has used so far are small; a wider bound still rejects random varints. */
    private static final long MAX_PLAUSIBLE_IR_VERSION = 100;

    private static final String EXPECTED_MODEL = "expected an ONNX ModelProto (ir_version, graph, opset_import)";

    private ModelFileCheck() {
    }

    /** Why protobuf-java refused the bytes, as the error a user should see. */
    static ModelFormatException explainParseFailure(byte[] bytes, InvalidProtocolBufferException cause) {
        WireScan.Result scan = WireScan.scan(bytes);
        String mismatch = firstMismatch(scan.fields());
        return switch (scan.problem()) {
            case TRUNCATED -> {
                if (looksLikeModelStart(scan) && mismatch == null && problemFieldFits(scan)) {
                    yield new ModelFormatException(ErrorCode.TRUNCATED_MODEL, truncationMessage(bytes.length, scan), cause);
                }
                yield new ModelFormatException(ErrorCode.NOT_PROTOBUF, "not protobuf: " + EXPECTED_MODEL
                        + ", found bytes whose field at offset " + scan.problemOffset() + " runs past the end of the "
                        + bytes.length + "-byte input (and the bytes before it do not start like an ONNX model)", cause);
            }
            case INVALID_TAG, INVALID_WIRE_TYPE, MALFORMED_VARINT -> new ModelFormatException(ErrorCode.NOT_PROTOBUF,
                    "not protobuf: " + EXPECTED_MODEL + ", found " + describeProblem(scan) + " at byte offset "
                            + scan.problemOffset() + " of " + bytes.length, cause);
            case NONE -> {
                if (mismatch != null) {
                    yield new ModelFormatException(ErrorCode.NOT_A_MODEL, "valid protobuf but not an ONNX model: "
                            + EXPECTED_MODEL + ", found " + mismatch, cause);
                }
                yield new ModelFormatException(ErrorCode.NOT_PROTOBUF, "damaged model: " + EXPECTED_MODEL
                        + " with valid nested messages, found intact top-level fields " + fieldList(scan.fields())
                        + " whose contents protobuf rejects (" + oneLine(cause.getMessage()) + ")", cause);
            }
        };
    }

    /** Rejects parsed messages that are not (complete) models. */
    static void checkParsed(byte[] bytes, ModelProto model) {
        if (bytes.length == 0) {
            throw new ModelFormatException(ErrorCode.NOT_A_MODEL, "empty file: " + EXPECTED_MODEL + ", found 0 bytes");
        }
        WireScan.Result scan = WireScan.scan(bytes);
        String mismatch = firstMismatch(scan.fields());
        if (mismatch != null) {
            throw new ModelFormatException(ErrorCode.NOT_A_MODEL, "valid protobuf but not an ONNX model: "
                    + EXPECTED_MODEL + ", found " + mismatch);
        }
        if (scan.problem() != WireScan.Problem.NONE) {
            // protobuf skips groups and over-long tags, so the fields after them went unchecked (and
            // written back, they would be seen): no ONNX writer produces either
            throw new ModelFormatException(ErrorCode.NOT_A_MODEL, "valid protobuf but not an ONNX model: "
                    + EXPECTED_MODEL + ", found " + describeProblem(scan) + " at byte offset "
                    + scan.problemOffset() + " of " + bytes.length);
        }
        if (!model.hasIrVersion() || model.getIrVersion() <= 0) {
            throw new ModelFormatException(ErrorCode.NOT_A_MODEL, "valid protobuf but not an ONNX model: "
                    + EXPECTED_MODEL + ", found " + (model.hasIrVersion() ? "ir_version " + model.getIrVersion()
                    : "no ir_version") + " (fields " + fieldList(scan.fields()) + ")");
        }
        List<WireScan.Field> fields = scan.fields();
        WireScan.Field last = fields.get(fields.size() - 1);
        if (!model.hasGraph()) {
            boolean onlyHeader = fields.stream().allMatch(f -> f.number() < ModelProto.GRAPH_FIELD_NUMBER);
            if (onlyHeader) {
                throw new ModelFormatException(ErrorCode.TRUNCATED_MODEL, "truncated model: expected the graph "
                        + "(field 7) after the header, found the file ending after field " + name(last.number())
                        + " at byte " + bytes.length + "; the file was cut short");
            }
            throw new ModelFormatException(ErrorCode.NOT_A_MODEL, "valid protobuf but not an ONNX model: "
                    + EXPECTED_MODEL + ", found no graph (fields " + fieldList(fields) + ")");
        }
        if (model.getOpsetImportCount() == 0 && model.getIrVersion() >= 3) {
            if (last.number() == ModelProto.GRAPH_FIELD_NUMBER) {
                throw new ModelFormatException(ErrorCode.TRUNCATED_MODEL, "truncated model: expected opset_import "
                        + "(field 8) after the graph, found the file ending right after the graph at byte "
                        + bytes.length + "; the file was cut short");
            }
            throw new ModelFormatException(ErrorCode.NOT_A_MODEL, "invalid ONNX model: expected opset_import "
                    + "entries (required since ir_version 3), found none with ir_version " + model.getIrVersion());
        }
    }

    private static boolean looksLikeModelStart(WireScan.Result scan) {
        List<WireScan.Field> fields = scan.fields();
        if (fields.isEmpty()) {
            // the cut may be inside the very first field; it must then be ir_version
            return scan.problemField() == ModelProto.IR_VERSION_FIELD_NUMBER;
        }
        WireScan.Field first = fields.get(0);
        return first.number() == ModelProto.IR_VERSION_FIELD_NUMBER && first.wireType() == WireScan.VARINT
                && first.varint() >= 1 && first.varint() <= MAX_PLAUSIBLE_IR_VERSION;
    }

    private static boolean problemFieldFits(WireScan.Result scan) {
        if (scan.problemField() < 0) {
            return true;
        }
        Expected e = MODEL_FIELDS.get(scan.problemField());
        return e == null || e.wireType() == scan.problemWireType();
    }

    private static String truncationMessage(long size, WireScan.Result scan) {
        String field = scan.problemField() < 0 ? "a field tag" : "field " + name(scan.problemField());
        if (scan.declaredEnd() > 0) {
            return "truncated model: expected at least " + scan.declaredEnd() + " bytes (field " + name(scan.problemField())
                    + " starting at byte " + scan.problemOffset() + " declares its length), found a " + size
                    + "-byte file; the file was cut short (incomplete download or copy?)";
        }
        return "truncated model: expected a complete " + field + " at byte " + scan.problemOffset() + ", found the "
                + size + "-byte file ending inside it; the file was cut short";
    }

    /** The first top-level field whose wire type a ModelProto does not allow, described; null if none. */
    private static String firstMismatch(List<WireScan.Field> fields) {
        for (WireScan.Field f : fields) {
            Expected e = MODEL_FIELDS.get(f.number());
            if (e != null && e.wireType() != f.wireType()) {
                return "field " + f.number() + " at byte " + f.start() + " encoded as " + WireScan.wireTypeName(f.wireType())
                        + ", where ModelProto's " + e.name() + " is " + WireScan.wireTypeName(e.wireType())
                        + " (a serialized message of another type?)";
            }
        }
        return null;
    }

    private static String describeProblem(WireScan.Result scan) {
        return switch (scan.problem()) {
            case INVALID_TAG -> "an invalid field tag (field number " + scan.problemField() + ")";
            case INVALID_WIRE_TYPE -> "field " + scan.problemField() + " with " + WireScan.wireTypeName(scan.problemWireType())
                    + (scan.problemWireType() == 3 || scan.problemWireType() == 4 ? " (groups never occur in ONNX)" : "");
            case MALFORMED_VARINT -> "a malformed varint";
            default -> scan.problem().toString();
        };
    }

    private static String name(int number) {
        Expected e = MODEL_FIELDS.get(number);
        return e == null ? Integer.toString(number) : e.name() + " (" + number + ")";
    }

    private static String fieldList(List<WireScan.Field> fields) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < fields.size() && i < 8; i++) {
            sb.append(i == 0 ? "" : ", ").append(name(fields.get(i).number()));
        }
        return sb.append(fields.size() > 8 ? ", ...]" : "]").toString();
    }

    private static String oneLine(String s) {
        return s == null ? "" : s.replace('\n', ' ');
    }
}
