package org.onnxfuse.onnx.io;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.SparseTensorProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;
import org.onnxfuse.onnx.errors.TerminalText;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.AttributeType;
import org.onnxfuse.onnx.ir.DataType;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.OpsetImport;
import org.onnxfuse.onnx.ir.ProtoOrigin;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorData;
import org.onnxfuse.onnx.ir.TensorType;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Reads ONNX model files into the {@link Model} IR. Every IR element keeps its protobuf message
 * as {@link ProtoOrigin}, so {@link OnnxWriter} can write back what the IR does not model.
 * Tensor data is not decoded here: {@code raw_data} is aliased, typed fields are converted and
 * external data is read only when {@link TensorData#rawBytes()} is called. Sizes, types and
 * external-data locations are checked here, before anything is allocated.
 *
 * <p>Every failure is a {@link ModelFormatException} whose message starts with the file (or
 * "&lt;bytes&gt;") and says what was expected and what was found.
 */
public final class OnnxReader {
    /** protobuf-java (like the C++ runtime) cannot parse a message of 2 GiB or more. */
    static final long MAX_PROTOBUF_BYTES = Integer.MAX_VALUE;

    private final Path baseDirectory;
    private Path realBase;
    private final Map<Path, SideFile> sideFiles = new HashMap<>();

    private OnnxReader(Path baseDirectory) {
        this.baseDirectory = baseDirectory;
    }

    /**
     * Initialises the protobuf classes of the ONNX schema (building their descriptors is about
     * 0.2 s of a process's first read), so that a caller can have it done on another thread ahead
     * of the first {@link #read}. Reads nothing; calling it is never needed.
     */
    public static void prepare() {
        ai.onnx.proto.OnnxMl.getDescriptor();
        ModelProto.getDefaultInstance();
    }

    /** Reads a model file; external data is resolved in the file's folder. */
    public static Model read(Path file) {
        Path absolute = file.toAbsolutePath();
        if (Files.isDirectory(absolute)) {
            throw new ModelFormatException(ErrorCode.IS_DIRECTORY, absolute + ": expected an ONNX model file, found "
                    + ForeignFormat.describe(absolute).map(ForeignFormat.Found::forModel).orElse("a directory"));
        }
        if (!Files.exists(absolute)) {
            throw new ModelFormatException(ErrorCode.FILE_NOT_FOUND, absolute + ": expected an ONNX model file, found nothing at this path");
        }
        if (!Files.isRegularFile(absolute)) {
            // a FIFO would block the read forever, a device such as /dev/zero never ends
            throw new ModelFormatException(ErrorCode.READ_FAILED, absolute + ": expected an ONNX model file, found a "
                    + "special file (a pipe, socket or device); save the model to a regular file first");
        }
        byte[] bytes;
        try {
            long size = Files.size(absolute);
            if (size >= MAX_PROTOBUF_BYTES) {
                throw new ModelFormatException(ErrorCode.INVALID_MODEL, absolute + ": expected a model file under 2 GiB "
                        + "(the protobuf limit), found " + size + " bytes; larger models must keep their weights as "
                        + "external data (onnx.save_model(..., save_as_external_data=True))");
            }
            bytes = Files.readAllBytes(absolute);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(ErrorCode.FILE_NOT_FOUND, absolute + ": expected an ONNX model file, found nothing at this path", e);
        } catch (IOException | OutOfMemoryError e) {
            throw new ModelFormatException(ErrorCode.READ_FAILED, absolute + ": cannot read the file (" + e + ")", e);
        }
        try {
            return parse(bytes, absolute.getParent(), absolute.toString());
        } catch (ModelFormatException e) {
            // another framework's file can look like a truncated or damaged protobuf by chance
            var foreign = ForeignFormat.describe(absolute);
            if (foreign.isPresent()) {
                throw new ModelFormatException(ErrorCode.NOT_A_MODEL, absolute + ": expected an ONNX model, found "
                        + foreign.get().forModel(), e);
            }
            throw e;
        }
    }

    /**
     * Parses a model held in memory. {@code baseDirectory} is where external data is looked for
     * (null: the model must not use external data). The array is aliased, not copied: do not
     * modify it while the model is in use.
     */
    public static Model parse(byte[] bytes, Path baseDirectory) {
        return parse(bytes, baseDirectory == null ? null : baseDirectory.toAbsolutePath(), "<bytes>");
    }

    private static Model parse(byte[] bytes, Path baseDirectory, String source) {
        try {
            ModelProto proto;
            try {
                // an immutable ByteString lets protobuf alias bytes fields (raw_data) instead of copying them
                CodedInputStream in = UnsafeByteOperations.unsafeWrap(bytes).newCodedInput();
                in.enableAliasing(true);
                proto = ModelProto.parseFrom(in);
            } catch (InvalidProtocolBufferException e) {
                throw ModelFileCheck.explainParseFailure(bytes, e);
            } catch (IOException e) {
                throw new ModelFormatException(ErrorCode.READ_FAILED, "cannot parse the model (" + e + ")", e);
            }
            ModelFileCheck.checkParsed(bytes, proto);
            return new OnnxReader(baseDirectory).model(proto);
        } catch (ModelFormatException e) {
            throw new ModelFormatException(e.code(), source + ": " + e.getMessage(), e);
        } catch (StackOverflowError e) {
            throw new ModelFormatException(ErrorCode.INVALID_MODEL, source + ": expected sub-graphs nested a few levels "
                    + "deep, found nesting too deep to follow", e);
        }
    }

    private Model model(ModelProto m) {
        List<OpsetImport> opsets = new ArrayList<>();
        for (OperatorSetIdProto o : m.getOpsetImportList()) {
            opsets.add(new OpsetImport(o.getDomain(), o.getVersion()));
        }
        Graph graph = graph(m.getGraph(), false);
        checkDomainsImported(graph, opsets);
        return new Model(m.getIrVersion(), opsets, m.getProducerName(), m.getProducerVersion(), m.getDomain(),
                m.getModelVersion(), m.getDocString(), metadata(m.getMetadataPropsList()), graph, baseDirectory,
                new ProtoOrigin(m));
    }

    /** Every node's domain has an opset import: without one, no runtime knows which version of its ops is meant. */
    private static void checkDomainsImported(Graph graph, List<OpsetImport> opsets) {
        Set<String> imported = new HashSet<>();
        for (OpsetImport o : opsets) {
            imported.add(o.isDefaultDomain() ? "" : o.domain());
        }
        for (Node n : graph.nodes()) {
            String domain = n.isDefaultDomain() ? "" : n.domain();
            if (!imported.contains(domain)) {
                throw new ModelFormatException(ErrorCode.INVALID_MODEL, "node " + n.describe() + " uses the domain "
                        + (domain.isEmpty() ? "'' (the ONNX operators)" : TerminalText.quote(domain))
                        + "; expected an opset_import for it, found imports only for " + imported.stream().sorted()
                        .map(d -> d.isEmpty() ? "''" : TerminalText.quote(d)).toList());
            }
            n.subgraphs().forEach(g -> checkDomainsImported(g, opsets));
        }
    }

    static Map<String, String> metadata(List<StringStringEntryProto> entries) {
        Map<String, String> map = new LinkedHashMap<>();
        for (StringStringEntryProto e : entries) {
            map.put(e.getKey(), e.getValue());
        }
        return map;
    }

    private Graph graph(GraphProto g, boolean subgraph) {
        Graph.Builder b = Graph.builder().name(g.getName()).docString(g.getDocString()).origin(new ProtoOrigin(g))
                .subgraph(subgraph);
        for (NodeProto n : g.getNodeList()) {
            b.addNode(node(n));
        }
        g.getInputList().forEach(v -> b.addInput(valueInfo(v)));
        g.getOutputList().forEach(v -> b.addOutput(valueInfo(v)));
        g.getValueInfoList().forEach(v -> b.addValueInfo(valueInfo(v)));
        for (TensorProto t : g.getInitializerList()) {
            b.addInitializer(tensor(t));
        }
        for (SparseTensorProto s : g.getSparseInitializerList()) {
            b.addInitializer(sparseTensor(s));
        }
        return b.build();
    }

    private Node node(NodeProto n) {
        Map<String, Attribute> attributes = new LinkedHashMap<>();
        for (AttributeProto a : n.getAttributeList()) {
            attributes.put(a.getName(), attribute(a));
        }
        return new Node(n.getName(), n.getOpType(), n.getDomain(), n.getInputList(), n.getOutputList(), attributes,
                n.getDocString(), new ProtoOrigin(n));
    }

    private Attribute attribute(AttributeProto a) {
        AttributeType type = attributeType(a);
        Object value = switch (type) {
            case FLOAT -> a.getF();
            case INT -> a.getI();
            case STRING -> a.getS().toStringUtf8();
            case TENSOR -> tensor(a.getT());
            case GRAPH -> graph(a.getG(), true);
            case FLOATS -> List.copyOf(a.getFloatsList());
            case INTS -> List.copyOf(a.getIntsList());
            case STRINGS -> a.getStringsList().stream().map(ByteString::toStringUtf8).toList();
            case TENSORS -> a.getTensorsList().stream().map(this::tensor).toList();
            case GRAPHS -> a.getGraphsList().stream().map(g -> graph(g, true)).toList();
            default -> null;
        };
        return new Attribute(a.getName(), type, value, a.getDocString(), a.getRefAttrName(), new ProtoOrigin(a));
    }

    /** The declared type, or (for old files that left {@code type} unset) the kind of value present. */
    static AttributeType attributeType(AttributeProto a) {
        if (a.hasType() && a.getType() != AttributeProto.AttributeType.UNDEFINED) {
            AttributeType t = AttributeType.fromCode(a.getType().getNumber());
            return t == null ? AttributeType.UNDEFINED : t;
        }
        if (a.hasF()) {
            return AttributeType.FLOAT;
        } else if (a.hasI()) {
            return AttributeType.INT;
        } else if (a.hasS()) {
            return AttributeType.STRING;
        } else if (a.hasT()) {
            return AttributeType.TENSOR;
        } else if (a.hasG()) {
            return AttributeType.GRAPH;
        } else if (a.getFloatsCount() > 0) {
            return AttributeType.FLOATS;
        } else if (a.getIntsCount() > 0) {
            return AttributeType.INTS;
        } else if (a.getStringsCount() > 0) {
            return AttributeType.STRINGS;
        } else if (a.getTensorsCount() > 0) {
            return AttributeType.TENSORS;
        } else if (a.getGraphsCount() > 0) {
            return AttributeType.GRAPHS;
        }
        return AttributeType.UNDEFINED;
    }

    private static ValueInfo valueInfo(ValueInfoProto v) {
        return new ValueInfo(v.getName(), v.hasType() ? tensorType(v.getType()) : null, v.getDocString(),
                new ProtoOrigin(v));
    }

    /** The tensor type a TypeProto declares; null for other kinds and element types this IR lacks. */
    static TensorType tensorType(TypeProto type) {
        if (!type.hasTensorType()) {
            return null;
        }
        TypeProto.Tensor t = type.getTensorType();
        DataType element = DataType.fromCode(t.getElemType());
        if (element == null) {
            return null;
        }
        if (!t.hasShape()) {
            return new TensorType(element, null);
        }
        List<Dim> dims = new ArrayList<>();
        for (TensorShapeProto.Dimension d : t.getShape().getDimList()) {
            dims.add(dim(d));
        }
        return new TensorType(element, dims);
    }

    static Dim dim(TensorShapeProto.Dimension d) {
        if (d.hasDimValue()) {
            return Dim.of(d.getDimValue());
        }
        if (d.hasDimParam()) {
            return Dim.symbol(d.getDimParam());
        }
        return Dim.UNKNOWN;
    }

    private Tensor tensor(TensorProto t) {
        String name = t.getName();
        DataType type = DataType.fromCode(t.getDataType());
        if (type == null || type == DataType.UNDEFINED) {
            throw new ModelFormatException(ErrorCode.UNSUPPORTED_TENSOR_TYPE, "tensor '" + name
                    + "': expected a TensorProto.DataType code (1 to " + (DataType.values().length - 1)
                    + "), found data_type " + t.getDataType()
                    + (type == null ? " (unknown to this version; from a newer ONNX?)" : " (UNDEFINED)"));
        }
        long[] dims = dims(name, t.getDimsList());
        ProtoOrigin origin = new ProtoOrigin(t);
        if (type == DataType.STRING || t.hasSegment()) {
            // strings have no raw form, and segments are never written by current tools: kept as they are
            return new Tensor(name, type, dims, null, t.getDocString(), origin);
        }
        long need = byteCount(name, type, dims);
        TensorData data;
        checkOneDataSource(t);
        if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
            data = external(t, type, dims, need);
        } else if (t.hasRawData()) {
            if (t.getRawData().size() < need) {
                throw sizeMismatch(name, type, dims, need, "only " + t.getRawData().size() + " bytes in raw_data");
            }
            data = new ProtoTensorData.Raw(t, t.getRawData(), need);
        } else {
            TypedField field = TypedField.of(type);
            int unit = TypedField.bytesPerEntry(type);
            long entries = need / unit;
            int present = field.count(t);
            if (present < entries) {
                String found = present == 0 && !TypedField.anyTyped(t)
                        ? "no data (neither raw_data nor " + field.protoName() + ")"
                        : "only " + present + " entries in " + field.protoName() + " (" + entries + " needed)";
                throw sizeMismatch(name, type, dims, need, found);
            }
            data = new ProtoTensorData.Typed(t, field, unit, need);
        }
        return new Tensor(name, type, dims, data, t.getDocString(), origin);
    }

    /** A tensor's data lies in exactly one place: which of two would count is anybody's guess. */
    private static void checkOneDataSource(TensorProto t) {
        List<String> sources = new ArrayList<>();
        if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
            sources.add("external data");
        }
        if (t.hasRawData() && !t.getRawData().isEmpty()) {
            sources.add("raw_data");
        }
        if (TypedField.anyTyped(t)) {
            sources.add("a typed field (" + TypedField.of(DataType.fromCode(t.getDataType())).protoName() + ", ...)");
        }
        if (sources.size() > 1) {
            throw new ModelFormatException(ErrorCode.INVALID_MODEL, "tensor " + TerminalText.quote(t.getName())
                    + ": expected its data in one place, found it in " + String.join(" and ", sources));
        }
    }

    private static long[] dims(String name, List<Long> list) {
        long[] dims = list.stream().mapToLong(Long::longValue).toArray();
        for (long d : dims) {
            if (d < 0) {
                throw new ModelFormatException(ErrorCode.INVALID_MODEL, "tensor '" + name
                        + "': expected dimensions >= 0, found " + d + " in shape " + Arrays.toString(dims));
            }
        }
        return dims;
    }

    /** Raw bytes the shape needs, overflow-checked before anything depends on it. */
    private static long byteCount(String name, DataType type, long[] dims) {
        try {
            return type.rawByteCount(Tensor.elementCount(dims));
        } catch (ArithmeticException e) {
            throw new ModelFormatException(ErrorCode.TENSOR_SIZE_MISMATCH, "tensor '" + name + "': expected a shape "
                    + "whose size fits 64 bits, found " + Arrays.toString(dims) + " of " + typeName(type)
                    + ", which overflows");
        }
    }

    private static ModelFormatException sizeMismatch(String name, DataType type, long[] dims, long need, String found) {
        return new ModelFormatException(ErrorCode.TENSOR_SIZE_MISMATCH, "tensor '" + name + "': expected " + need
                + " bytes for shape " + Arrays.toString(dims) + " of " + typeName(type) + ", found " + found);
    }

    static String typeName(DataType type) {
        return type.name().toLowerCase();
    }

    private TensorData external(TensorProto t, DataType type, long[] dims, long need) {
        String name = t.getName();
        Map<String, String> keys = new HashMap<>();
        for (StringStringEntryProto e : t.getExternalDataList()) {
            keys.put(e.getKey(), e.getValue());
        }
        String location = keys.get("location");
        if (location == null || location.isEmpty()) {
            throw new ModelFormatException(ErrorCode.INVALID_MODEL, "tensor '" + name + "': expected a 'location' "
                    + "key in external_data (data_location is EXTERNAL), found keys " + keys.keySet());
        }
        long offset = externalNumber(name, keys, "offset", 0);
        long length = externalNumber(name, keys, "length", -1);
        if (length >= 0 && length < need) {
            throw sizeMismatch(name, type, dims, need, "external_data length " + length);
        }
        if (baseDirectory == null) {
            throw new ModelFormatException(ErrorCode.EXTERNAL_DATA_MISSING, "tensor '" + name + "': expected a model "
                    + "folder to find external data file '" + location + "' in, found a model parsed from bytes "
                    + "without one; read the file with OnnxReader.read(path) or pass its folder");
        }
        SideFile file = sideFile(name, location);
        long size = file.size();
        long span = length >= 0 ? length : need;
        if (offset > size || span > size - offset) {
            throw new ModelFormatException(ErrorCode.EXTERNAL_DATA_PAST_END, "tensor '" + name + "': expected bytes ["
                    + offset + ", " + (offset + span) + ") of external data file " + file.path() + ", found the file "
                    + "only " + size + " bytes long");
        }
        return new ProtoTensorData.External(t, file, offset, need);
    }

    private static long externalNumber(String tensor, Map<String, String> keys, String key, long fallback) {
        String text = keys.get(key);
        if (text == null || text.isEmpty()) {
            return fallback;
        }
        try {
            long v = Long.parseLong(text.trim());
            if (v < 0) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException e) {
            throw new ModelFormatException(ErrorCode.INVALID_MODEL, "tensor '" + tensor + "': expected external_data "
                    + key + " to be a number >= 0, found '" + text + "'");
        }
    }

    /** Resolves a location inside the model's folder, following symbolic links, or refuses it. */
    private SideFile sideFile(String tensor, String location) {
        String normalized = location.replace('\\', '/');
        Path relative;
        try {
            relative = Path.of(normalized);
        } catch (InvalidPathException e) {
            throw new ModelFormatException(ErrorCode.INVALID_MODEL, "tensor '" + tensor + "': expected an external "
                    + "data location that is a file path, found '" + location + "'");
        }
        if (relative.isAbsolute() || normalized.startsWith("/") || normalized.matches("^[A-Za-z]:.*")) {
            throw new ModelFormatException(ErrorCode.EXTERNAL_DATA_OUTSIDE_FOLDER, "tensor '" + tensor + "': expected "
                    + "an external data location relative to the model's folder " + baseDirectory + ", found the "
                    + "absolute path '" + location + "'");
        }
        Path base = realBase(tensor, location);
        Path candidate = base.resolve(relative).normalize();
        if (!candidate.startsWith(base)) {
            throw new ModelFormatException(ErrorCode.EXTERNAL_DATA_OUTSIDE_FOLDER, "tensor '" + tensor + "': expected "
                    + "external data inside the model's folder " + base + ", found location '" + location
                    + "', which resolves to " + candidate);
        }
        if (!Files.exists(candidate)) {
            throw new ModelFormatException(ErrorCode.EXTERNAL_DATA_MISSING, "tensor '" + tensor + "': expected "
                    + "external data file " + candidate + " (location '" + location + "'), found no such file");
        }
        try {
            Path real = candidate.toRealPath();
            if (!real.startsWith(base)) {
                throw new ModelFormatException(ErrorCode.EXTERNAL_DATA_OUTSIDE_FOLDER, "tensor '" + tensor
                        + "': expected external data inside the model's folder " + base + ", found location '"
                        + location + "' linking to " + real);
            }
            if (!Files.isRegularFile(real)) {
                throw new ModelFormatException(ErrorCode.EXTERNAL_DATA_MISSING, "tensor '" + tensor + "': expected "
                        + "external data file " + real + " (location '" + location + "') to be a file, found a "
                        + (Files.isDirectory(real) ? "directory" : "special file"));
            }
            SideFile file = sideFiles.get(real);
            if (file == null) {
                file = SideFile.open(real);
                sideFiles.put(real, file);
            }
            return file;
        } catch (IOException e) {
            throw new ModelFormatException(ErrorCode.READ_FAILED, "tensor '" + tensor + "': cannot read external data "
                    + "file " + candidate + " (" + e + ")", e);
        }
    }

    private Path realBase(String tensor, String location) {
        if (realBase == null) {
            try {
                realBase = baseDirectory.toRealPath();
            } catch (IOException e) {
                throw new ModelFormatException(ErrorCode.EXTERNAL_DATA_MISSING, "tensor '" + tensor + "': expected "
                        + "the model folder " + baseDirectory + " holding external data '" + location
                        + "', found no such folder");
            }
        }
        return realBase;
    }

    private Tensor sparseTensor(SparseTensorProto s) {
        Tensor values = tensor(s.getValues());
        Tensor indices = tensor(s.getIndices());
        String name = values.name();
        long[] dims = dims(name, s.getDimsList());
        DataType type = values.dataType();
        long byteLength = byteCount(name, type, dims);
        long nnz = values.elementCount();
        long[] idxDims = indices.dims();
        boolean linear = idxDims.length == 1 && idxDims[0] == nnz;
        boolean perAxis = idxDims.length == 2 && idxDims[0] == nnz && idxDims[1] == dims.length;
        if (indices.dataType() != DataType.INT64 || !(linear || perAxis)) {
            throw new ModelFormatException(ErrorCode.INVALID_MODEL, "sparse tensor '" + name + "': expected int64 "
                    + "indices of shape [" + nnz + "] or [" + nnz + ", " + dims.length + "], found "
                    + typeName(indices.dataType()) + Arrays.toString(idxDims));
        }
        TensorData data = values.data() == null || indices.data() == null ? null
                : new ProtoTensorData.Sparse(s, type, dims, values.data(), indices.data(), linear, byteLength);
        return new Tensor(name, type, dims, data, values.docString(), new ProtoOrigin(s));
    }
}
