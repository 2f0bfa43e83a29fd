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
import com.google.protobuf.UnsafeByteOperations;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Consumer;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OutputException;
import org.onnxfuse.onnx.ir.Attribute;
import org.onnxfuse.onnx.ir.AttributeType;
import org.onnxfuse.onnx.ir.Dim;
import org.onnxfuse.onnx.ir.Graph;
import org.onnxfuse.onnx.ir.Model;
import org.onnxfuse.onnx.ir.Node;
import org.onnxfuse.onnx.ir.OpsetImport;
import org.onnxfuse.onnx.ir.Tensor;
import org.onnxfuse.onnx.ir.TensorData;
import org.onnxfuse.onnx.ir.TensorType;
import org.onnxfuse.onnx.ir.ValueInfo;

/**
 * Writes the {@link Model} IR as ONNX. Each element is rebuilt from its origin message, so what
 * the IR does not model (unknown fields of newer ONNX versions, training info, functions,
 * metadata of graphs and nodes, ...) is written back unchanged; a tensor whose data is still the
 * one the reader made keeps its encoding (typed fields stay typed, raw stays raw).
 *
 * <p>Files are written to a temporary file in the target folder and renamed over the target
 * (side file first, then the model), so a failure leaves no partial output. Writing a model over
 * the files it was read from is safe: side files being replaced are kept open, so the model in
 * memory still reads its old data.
 */
public final class OnnxWriter {
    /** Inline tensor bytes allowed in one file, leaving room under 2 GiB for the rest of the model. */
    static final long INLINE_LIMIT = OnnxReader.MAX_PROTOBUF_BYTES - (16L << 20);

    private record Placement(TensorData data, long offset, long length) {
    }

    private final boolean inlineAll;
    private final long threshold;
    private final long alignment;
    private final String sideLocation;
    private final List<Placement> placements = new ArrayList<>();
    private final Set<SideFile> sourcesRead = Collections.newSetFromMap(new IdentityHashMap<>());
    private long sideSize;
    private long inlineBytes;

    private OnnxWriter(boolean inlineAll, long threshold, long alignment, String sideLocation) {
        this.inlineAll = inlineAll;
        this.threshold = threshold;
        this.alignment = alignment;
        this.sideLocation = sideLocation;
    }

    /** Writes with {@link WriteOptions#defaults()}. */
    public static void write(Model model, Path file) {
        write(model, file, WriteOptions.defaults());
    }

    public static void write(Model model, Path file, WriteOptions options) {
        try (StagedFiles staged = stage(model, file, options)) {
            staged.commit();
        }
    }

    /** {@link #stage(Model, Path, WriteOptions)} with {@link WriteOptions#defaults()}. */
    public static StagedFiles stage(Model model, Path file) {
        return stage(model, file, WriteOptions.defaults());
    }

    /**
     * Writes the model (and its side file, if it has one) completely into temporary files next to
     * {@code file}; committing the result moves the side file, then the model, into place.
     */
    public static StagedFiles stage(Model model, Path file, WriteOptions options) {
        return stage(model, file, options, INLINE_LIMIT);
    }

    /** {@link #stage(Model, Path, WriteOptions)} with {@code inlineLimit} bytes of inline tensors at most (tests). */
    static StagedFiles stage(Model model, Path file, WriteOptions options, long inlineLimit) {
        Objects.requireNonNull(model, "model");
        Path out = file.toAbsolutePath().normalize();
        Path dir = out.getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new OutputException(ErrorCode.OUTPUT_UNWRITABLE, "cannot write " + out + ": expected an existing "
                    + "folder " + dir + ", found " + (dir != null && Files.exists(dir) ? "a file" : "nothing") + " there");
        }
        if (Files.isDirectory(out)) {
            throw new OutputException(ErrorCode.OUTPUT_UNWRITABLE, "cannot write " + out + ": expected a file path, "
                    + "found a directory");
        }
        String outName = out.getFileName().toString();
        String sideName = options.sideFileName() != null ? options.sideFileName() : outName + ".data";
        if (sideName.equals(outName)) {
            throw new OutputException(ErrorCode.OUTPUT_UNWRITABLE, "cannot write " + out + ": expected a side file "
                    + "name other than the model's, found '" + sideName + "' for both");
        }
        boolean automatic = !options.inlineAll() && options.externalThreshold() < 0;
        // A model whose initializers cannot fit one message can only exist with external data: the
        // big ones go to the side file from the start. Encoding it inline first would read every
        // tensor held in a file (a parent's external data, the fused model's spilled weights) onto
        // the heap and keep it there until the message is dropped: a 2.155 GB model ran a 2 GiB
        // heap out of memory that way after all of its levels were fused.
        long threshold = automatic && initializerBytes(model.graph()) > inlineLimit
                ? WriteOptions.AUTOMATIC_THRESHOLD : options.externalThreshold();
        OnnxWriter writer = new OnnxWriter(options.inlineAll(), threshold, options.alignment(), sideName);
        ModelProto proto = writer.encode(model);
        if (writer.inlineBytes > inlineLimit && automatic && threshold < 0) {
            // the initializers fitted, but attributes (Constant nodes) took it over the limit
            writer = new OnnxWriter(false, WriteOptions.AUTOMATIC_THRESHOLD, options.alignment(), sideName);
            proto = writer.encode(model);
        }
        if (writer.inlineBytes > inlineLimit) {
            throw tooLarge(out.toString(), writer.inlineBytes);
        }
        Path sideTarget = writer.placements.isEmpty() ? null : dir.resolve(sideName);
        Path sideTemp = null;
        Path modelTemp = null;
        try {
            List<StagedFiles.Move> moves = new ArrayList<>();
            if (sideTarget != null) {
                sideTemp = TempFiles.create(dir, sideName);
                writer.writeSide(sideTemp);
                copyPermissions(sideTarget, sideTemp);
                moves.add(new StagedFiles.Move(sideTemp, sideTarget));
            }
            modelTemp = TempFiles.create(dir, outName);
            copyPermissions(out, modelTemp);
            try (FileChannel channel = FileChannel.open(modelTemp, StandardOpenOption.WRITE)) {
                OutputStream stream = new BufferedOutputStream(Channels.newOutputStream(channel), 1 << 16);
                proto.writeTo(stream);
                stream.flush();
                channel.force(true);
            }
            moves.add(new StagedFiles.Move(modelTemp, out));
            writer.pinSourcesAt(out, sideTarget);
            return new StagedFiles(moves);
        } catch (IOException e) {
            TempFiles.delete(sideTemp);
            TempFiles.delete(modelTemp);
            throw new OutputException(ErrorCode.OUTPUT_UNWRITABLE, "cannot write " + out + ": expected a writable "
                    + "folder " + dir + ", found " + e, e);
        } catch (RuntimeException | Error e) {
            TempFiles.delete(sideTemp);
            TempFiles.delete(modelTemp);
            throw e;
        }
    }

    /**
     * The model as one protobuf message, every tensor inline (external data is loaded). For
     * handing a model to ONNX Runtime in memory; fails when the result would exceed 2 GiB.
     */
    public static byte[] toBytes(Model model) {
        OnnxWriter writer = new OnnxWriter(true, -1, 1, null);
        ModelProto proto = writer.encode(model);
        if (writer.inlineBytes > INLINE_LIMIT) {
            throw tooLarge("an in-memory model", writer.inlineBytes);
        }
        return proto.toByteArray();
    }

    /** The raw bytes of the graph's initializers that are not external data already (those stay in a side file). */
    static long initializerBytes(Graph g) {
        long total = 0;
        for (Tensor t : g.initializers().values()) {
            if (t.data() != null && !(t.data() instanceof ProtoTensorData.External)) {
                total += t.dataType().rawByteCount(t.elementCount());
            }
        }
        return total;
    }

    private static OutputException tooLarge(String target, long inlineBytes) {
        return new OutputException(ErrorCode.OUTPUT_UNWRITABLE, "cannot write " + target + ": expected under 2 GiB "
                + "of inline tensor data (the protobuf limit), found " + inlineBytes + " bytes; write to a file with "
                + "WriteOptions.externalAbove(...) to keep weights in a side file");
    }

    // ------------------------------------------------------------------------------ encoding

    private ModelProto encode(Model m) {
        placements.clear();
        sourcesRead.clear();
        sideSize = 0;
        inlineBytes = 0;
        ModelProto origin = m.origin() != null && m.origin().message() instanceof ModelProto p ? p : null;
        ModelProto.Builder b = origin != null ? origin.toBuilder() : ModelProto.newBuilder();
        if (!b.hasIrVersion() || b.getIrVersion() != m.irVersion()) {
            b.setIrVersion(m.irVersion());
        }
        setString(b.getProducerName(), m.producerName(), b::setProducerName, () -> b.clearProducerName());
        setString(b.getProducerVersion(), m.producerVersion(), b::setProducerVersion, () -> b.clearProducerVersion());
        setString(b.getDomain(), m.domain(), b::setDomain, () -> b.clearDomain());
        setString(b.getDocString(), m.docString(), b::setDocString, () -> b.clearDocString());
        if (b.getModelVersion() != m.modelVersion()) {
            if (m.modelVersion() == 0) {
                b.clearModelVersion();
            } else {
                b.setModelVersion(m.modelVersion());
            }
        }
        List<OperatorSetIdProto> opsets = b.getOpsetImportList();
        List<OpsetImport> decoded = opsets.stream().map(o -> new OpsetImport(o.getDomain(), o.getVersion())).toList();
        if (!decoded.equals(m.opsetImports())) {
            b.clearOpsetImport();
            for (int i = 0; i < m.opsetImports().size(); i++) {
                OpsetImport o = m.opsetImports().get(i);
                if (i < decoded.size() && decoded.get(i).equals(o)) {
                    b.addOpsetImport(opsets.get(i));
                } else {
                    OperatorSetIdProto.Builder ob = OperatorSetIdProto.newBuilder().setVersion(o.version());
                    if (!o.domain().isEmpty()) {
                        ob.setDomain(o.domain());
                    }
                    b.addOpsetImport(ob);
                }
            }
        }
        List<StringStringEntryProto> props = b.getMetadataPropsList();
        if (!new ArrayList<>(OnnxReader.metadata(props).entrySet()).equals(new ArrayList<>(m.metadata().entrySet()))) {
            b.clearMetadataProps();
            for (Map.Entry<String, String> e : m.metadata().entrySet()) {
                StringStringEntryProto kept = props.stream()
                        .filter(p -> p.getKey().equals(e.getKey()) && p.getValue().equals(e.getValue())).findFirst()
                        .orElse(null);
                b.addMetadataProps(kept != null ? kept
                        : StringStringEntryProto.newBuilder().setKey(e.getKey()).setValue(e.getValue()).build());
            }
        }
        b.setGraph(graph(m.graph()));
        return b.build();
    }

    /** Keeps the origin's field (and its presence) when the IR value is unchanged. */
    private static void setString(String current, String wanted, Consumer<String> set, Runnable clear) {
        if (current.equals(wanted)) {
            return;
        }
        if (wanted.isEmpty()) {
            clear.run();
        } else {
            set.accept(wanted);
        }
    }

    private GraphProto graph(Graph g) {
        GraphProto.Builder b = g.origin() != null && g.origin().message() instanceof GraphProto p ? p.toBuilder()
                : GraphProto.newBuilder();
        setString(b.getName(), g.name(), b::setName, () -> b.clearName());
        setString(b.getDocString(), g.docString(), b::setDocString, () -> b.clearDocString());
        b.clearNode();
        for (Node n : writeOrder(g)) {
            b.addNode(node(n));
        }
        b.clearInput();
        g.inputs().forEach(v -> b.addInput(valueInfo(v)));
        b.clearOutput();
        g.outputs().forEach(v -> b.addOutput(valueInfo(v)));
        b.clearValueInfo();
        g.valueInfos().forEach(v -> b.addValueInfo(valueInfo(v)));
        b.clearInitializer();
        b.clearSparseInitializer();
        for (Tensor t : g.initializers().values()) {
            SparseTensorProto sparse = pristineSparse(t);
            if (sparse != null) {
                b.addSparseInitializer(sparse);
            } else {
                b.addInitializer(tensor(t, true));
            }
        }
        return b.build();
    }

    private NodeProto node(Node n) {
        NodeProto.Builder b = n.origin() != null && n.origin().message() instanceof NodeProto p ? p.toBuilder()
                : NodeProto.newBuilder();
        setString(b.getName(), n.name(), b::setName, () -> b.clearName());
        if (!b.hasOpType() || !b.getOpType().equals(n.opType())) {
            b.setOpType(n.opType());
        }
        setString(b.getDomain(), n.domain(), b::setDomain, () -> b.clearDomain());
        setString(b.getDocString(), n.docString(), b::setDocString, () -> b.clearDocString());
        b.clearInput().addAllInput(n.inputs());
        b.clearOutput().addAllOutput(n.outputs());
        b.clearAttribute();
        for (Attribute a : n.attributes().values()) {
            b.addAttribute(attribute(a));
        }
        return b.build();
    }

    @SuppressWarnings("unchecked")
    private AttributeProto attribute(Attribute a) {
        AttributeProto origin = a.origin() != null && a.origin().message() instanceof AttributeProto p ? p : null;
        boolean sameType = origin != null && OnnxReader.attributeType(origin) == a.type();
        AttributeProto.Builder b = sameType ? origin.toBuilder() : AttributeProto.newBuilder();
        if (!b.hasName() || !b.getName().equals(a.name())) {
            b.setName(a.name());
        }
        setString(b.getDocString(), a.docString(), b::setDocString, () -> b.clearDocString());
        setString(b.getRefAttrName(), a.refAttrName(), b::setRefAttrName, () -> b.clearRefAttrName());
        if (!sameType) {
            AttributeProto.AttributeType type = AttributeProto.AttributeType.forNumber(a.type().code());
            if (type != null && a.type() != AttributeType.UNDEFINED) {
                b.setType(type);
            }
        }
        Object v = a.value();
        if (v == null) {
            return b.build();
        }
        switch (a.type()) {
            case FLOAT -> {
                float f = (Float) v;
                if (!b.hasF() || Float.floatToRawIntBits(b.getF()) != Float.floatToRawIntBits(f)) {
                    b.setF(f);
                }
            }
            case INT -> {
                long i = (Long) v;
                if (!b.hasI() || b.getI() != i) {
                    b.setI(i);
                }
            }
            case STRING -> {
                if (!b.hasS() || !b.getS().toStringUtf8().equals(v)) {
                    b.setS(ByteString.copyFromUtf8((String) v));
                }
            }
            case TENSOR -> b.setT(tensor((Tensor) v, false));
            case GRAPH -> b.setG(graph((Graph) v));
            case FLOATS -> {
                if (!b.getFloatsList().equals(v)) {
                    b.clearFloats().addAllFloats((List<Float>) v);
                }
            }
            case INTS -> {
                if (!b.getIntsList().equals(v)) {
                    b.clearInts().addAllInts((List<Long>) v);
                }
            }
            case STRINGS -> {
                List<String> decoded = b.getStringsList().stream().map(ByteString::toStringUtf8).toList();
                if (!decoded.equals(v)) {
                    b.clearStrings();
                    ((List<String>) v).forEach(s -> b.addStrings(ByteString.copyFromUtf8(s)));
                }
            }
            case TENSORS -> {
                b.clearTensors();
                ((List<Tensor>) v).forEach(t -> b.addTensors(tensor(t, false)));
            }
            case GRAPHS -> {
                b.clearGraphs();
                ((List<Graph>) v).forEach(g -> b.addGraphs(graph(g)));
            }
            default -> {
                // sparse tensors and type protos live only in the origin
            }
        }
        return b.build();
    }

    private static ValueInfoProto valueInfo(ValueInfo v) {
        ValueInfoProto.Builder b = v.origin() != null && v.origin().message() instanceof ValueInfoProto p
                ? p.toBuilder() : ValueInfoProto.newBuilder();
        if (!b.hasName() || !b.getName().equals(v.name())) {
            b.setName(v.name());
        }
        setString(b.getDocString(), v.docString(), b::setDocString, () -> b.clearDocString());
        TensorType decoded = b.hasType() ? OnnxReader.tensorType(b.getType()) : null;
        if (!Objects.equals(decoded, v.tensorType())) {
            if (v.tensorType() == null) {
                b.clearType();
            } else {
                b.setType(typeProto(v.tensorType(), b.hasType() ? b.getType() : null));
            }
        }
        return b.build();
    }

    /** A tensor TypeProto, reusing the origin's dimensions (and their denotations) where unchanged. */
    private static TypeProto typeProto(TensorType t, TypeProto origin) {
        boolean tensorOrigin = origin != null && origin.hasTensorType();
        TypeProto.Builder b = tensorOrigin ? origin.toBuilder() : TypeProto.newBuilder();
        TypeProto.Tensor.Builder tb = b.getTensorTypeBuilder();
        tb.setElemType(t.elementType().code());
        if (t.shape() == null) {
            tb.clearShape();
        } else {
            TensorShapeProto old = tb.hasShape() ? tb.getShape() : null;
            TensorShapeProto.Builder sb = old != null ? old.toBuilder().clearDim() : TensorShapeProto.newBuilder();
            for (int i = 0; i < t.shape().size(); i++) {
                Dim d = t.shape().get(i);
                if (old != null && i < old.getDimCount() && OnnxReader.dim(old.getDim(i)).equals(d)) {
                    sb.addDim(old.getDim(i));
                } else {
                    TensorShapeProto.Dimension.Builder db = TensorShapeProto.Dimension.newBuilder();
                    if (d.isFixed()) {
                        db.setDimValue(d.value());
                    } else if (d.param() != null) {
                        db.setDimParam(d.param());
                    }
                    sb.addDim(db);
                }
            }
            tb.setShape(sb);
        }
        return b.build();
    }

    private static boolean sameShape(List<Long> protoDims, long[] dims) {
        if (protoDims.size() != dims.length) {
            return false;
        }
        for (int i = 0; i < dims.length; i++) {
            if (protoDims.get(i) != dims[i]) {
                return false;
            }
        }
        return true;
    }

    /** The origin of a sparse initializer whose data is untouched (renamed if needed), else null. */
    private static SparseTensorProto pristineSparse(Tensor t) {
        if (!(t.origin() != null && t.origin().message() instanceof SparseTensorProto s
                && t.data() instanceof ProtoTensorData.Sparse d && d.source() == s
                && t.dataType() == d.dataType() && Arrays.equals(t.dims(), d.dims())
                && !(d.values() instanceof ProtoTensorData.External)
                && !(d.indices() instanceof ProtoTensorData.External))) {
            return null;
        }
        if (s.getValues().getName().equals(t.name())) {
            return s;
        }
        return s.toBuilder().setValues(s.getValues().toBuilder().setName(t.name())).build();
    }

    private TensorProto tensor(Tensor t, boolean initializer) {
        TensorProto origin = t.origin() != null && t.origin().message() instanceof TensorProto p ? p : null;
        TensorData data = t.data();
        boolean sameShape = origin != null && origin.getDataType() == t.dataType().code()
                && sameShape(origin.getDimsList(), t.dims());
        boolean pristine = sameShape && data instanceof ProtoTensorData d && d.source() == origin;
        TensorProto.Builder b = origin != null ? origin.toBuilder() : TensorProto.newBuilder();
        if (origin == null && t.origin() != null && t.origin().message() instanceof SparseTensorProto s) {
            // a densified sparse initializer: keep what its values tensor carried besides the data
            b.setDocString(s.getValues().getDocString());
        }
        setString(b.getName(), t.name(), b::setName, () -> b.clearName());
        setString(b.getDocString(), t.docString(), b::setDocString, () -> b.clearDocString());
        if (data == null) {
            // strings and segments: the data stays in the origin's fields
            if (!sameShape) {
                b.setDataType(t.dataType().code()).clearDims();
                Arrays.stream(t.dims()).forEach(b::addDims);
            }
            return b.build();
        }
        if (data instanceof ProtoTensorData.External e) {
            sourcesRead.add(e.file());
        }
        boolean external = !inlineAll && (data instanceof ProtoTensorData.External
                || (initializer && threshold >= 0 && t.dataType().rawByteCount(t.elementCount()) > threshold));
        if (pristine && !external && !(data instanceof ProtoTensorData.External)) {
            inlineBytes += data.byteLength();
            return b.build();
        }
        long length = t.dataType().rawByteCount(t.elementCount());
        if (data.byteLength() < length) {
            throw new IllegalArgumentException("tensor '" + t.name() + "': expected " + length + " bytes of data for "
                    + t.dataType() + Arrays.toString(t.dims()) + ", found " + data.byteLength());
        }
        if (pristine && external && data instanceof ProtoTensorData.External) {
            long offset = place(data, length);
            List<StringStringEntryProto> entries = new ArrayList<>(b.getExternalDataList());
            putEntry(entries, "location", sideLocation);
            putEntry(entries, "offset", Long.toString(offset));
            putEntry(entries, "length", Long.toString(length));
            b.clearExternalData().addAllExternalData(entries);
            return b.build();
        }
        b.clearRawData().clearFloatData().clearInt32Data().clearInt64Data().clearDoubleData().clearUint64Data()
                .clearStringData().clearExternalData().clearDataLocation().clearSegment();
        if (!sameShape) {
            b.setDataType(t.dataType().code()).clearDims();
            Arrays.stream(t.dims()).forEach(b::addDims);
        }
        if (external) {
            long offset = place(data, length);
            b.setDataLocation(TensorProto.DataLocation.EXTERNAL);
            b.addExternalData(entry("location", sideLocation));
            b.addExternalData(entry("offset", Long.toString(offset)));
            b.addExternalData(entry("length", Long.toString(length)));
        } else {
            ByteBuffer bytes = data.rawBytes();
            bytes.limit(bytes.position() + (int) length);
            // the IR's buffers are immutable, so protobuf may keep a view instead of a copy
            b.setRawData(UnsafeByteOperations.unsafeWrap(bytes));
            inlineBytes += length;
        }
        return b.build();
    }

    private static StringStringEntryProto entry(String key, String value) {
        return StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
    }

    private static void putEntry(List<StringStringEntryProto> entries, String key, String value) {
        for (int i = 0; i < entries.size(); i++) {
            if (entries.get(i).getKey().equals(key)) {
                if (!entries.get(i).getValue().equals(value)) {
                    entries.set(i, entries.get(i).toBuilder().setValue(value).build());
                }
                return;
            }
        }
        entries.add(entry(key, value));
    }

    private long place(TensorData data, long length) {
        long offset = (sideSize + alignment - 1) / alignment * alignment;
        placements.add(new Placement(data, offset, length));
        sideSize = offset + length;
        return offset;
    }

    // ------------------------------------------------------------------------------ files

    private void writeSide(Path temp) throws IOException {
        try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE)) {
            for (Placement p : placements) {
                if (p.data() instanceof ProtoTensorData.External e) {
                    e.file().copyTo(e.offset(), p.length(), channel, p.offset());
                    continue;
                }
                ByteBuffer bytes = p.data().rawBytes();
                if (bytes.remaining() < p.length()) {
                    throw new IllegalStateException("tensor data reports " + p.data().byteLength() + " bytes but "
                            + "holds " + bytes.remaining() + ", expected " + p.length());
                }
                bytes.limit(bytes.position() + (int) p.length());
                long position = p.offset();
                while (bytes.hasRemaining()) {
                    position += channel.write(bytes, position);
                }
            }
            if (channel.size() < sideSize) {
                channel.truncate(sideSize);
            }
            channel.force(true);
        }
    }

    /** Keeps side files open that are about to be replaced, so models in memory keep their data. */
    private void pinSourcesAt(Path out, Path sideTarget) {
        for (SideFile source : sourcesRead) {
            if (sameFile(source.path(), out) || (sideTarget != null && sameFile(source.path(), sideTarget))) {
                source.pin();
            }
        }
    }

    /**
     * The stored order when every node comes after the producers of its inputs, otherwise the
     * topological order: the ONNX checker refuses a graph out of order, which a model read from an
     * exporter that ignored the rule would otherwise keep.
     */
    private static List<Node> writeOrder(Graph g) {
        Set<String> producedLater = new HashSet<>();
        for (Node n : g.nodes()) {
            n.outputs().forEach(producedLater::add);
        }
        for (Node n : g.nodes()) {
            for (String in : n.inputs()) {
                if (!in.isEmpty() && producedLater.contains(in)) {
                    return g.topologicalOrder();
                }
            }
            n.outputs().forEach(producedLater::remove);
        }
        return g.nodes();
    }

    private static boolean sameFile(Path realSource, Path target) {
        try {
            return Files.exists(target) && realSource.equals(target.toRealPath());
        } catch (IOException e) {
            return false;
        }
    }

    private static void copyPermissions(Path from, Path to) {
        try {
            if (Files.exists(from)) {
                Files.setPosixFilePermissions(to, Files.getPosixFilePermissions(from));
            }
        } catch (IOException | UnsupportedOperationException e) {
            // keep the default permissions of a new file
        }
    }
}
