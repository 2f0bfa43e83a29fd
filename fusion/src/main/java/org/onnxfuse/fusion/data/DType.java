package org.onnxfuse.fusion.data;

import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.stream.Collectors;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.TerminalText;

/** The NumPy element types the data reader decodes, each with its {@code descr} code and size. */
public enum DType {
    FLOAT16("float16", "f2", 2, true),
    FLOAT32("float32", "f4", 4, true),
    FLOAT64("float64", "f8", 8, true),
    INT8("int8", "i1", 1, false),
    UINT8("uint8", "u1", 1, false),
    INT16("int16", "i2", 2, false),
    INT32("int32", "i4", 4, false),
    INT64("int64", "i8", 8, false),
    BOOL("bool", "b1", 1, false);

    private final String numpyName;
    private final String code;
    private final int itemSize;
    private final boolean floatingPoint;

    DType(String numpyName, String code, int itemSize, boolean floatingPoint) {
        this.numpyName = numpyName;
        this.code = code;
        this.itemSize = itemSize;
        this.floatingPoint = floatingPoint;
    }

    /** NumPy's name, e.g. {@code float32}. */
    public String numpyName() {
        return numpyName;
    }

    /** Kind and size without byte order, e.g. {@code f4}. */
    public String code() {
        return code;
    }

    /** Little-endian descr as numpy writes it: {@code <f4}, or {@code |u1} for one-byte types. */
    public String descr() {
        return descr(ByteOrder.LITTLE_ENDIAN);
    }

    /** Descr in the given byte order ({@code <}, {@code >}, or {@code |} for one-byte types). */
    public String descr(ByteOrder order) {
        if (itemSize == 1) {
            return "|" + code;
        }
        return (order == ByteOrder.BIG_ENDIAN ? ">" : "<") + code;
    }

    public int itemSize() {
        return itemSize;
    }

    public boolean isFloatingPoint() {
        return floatingPoint;
    }

    /** The integer types, which {@link SampleArray#readLongs} accepts. */
    public boolean isInteger() {
        return !floatingPoint;
    }

    /** {@code "float16 (<f2), float32 (<f4), ..."} for error messages. */
    static String supportedList() {
        return Arrays.stream(values())
                .map(t -> t.numpyName + " (" + t.descr() + ")")
                .collect(Collectors.joining(", "));
    }

    /**
     * Parses a numpy descr such as {@code <f4}, {@code >i8} or {@code |u1}.
     *
     * @param source file name for the message
     * @return the type; its byte order comes from {@link #byteOrder(String)}
     * @throws DataException DATA_DTYPE naming the descr and the supported types
     */
    static DType fromDescr(String descr, String source) {
        String body = descr;
        if (!body.isEmpty() && "<>|=".indexOf(body.charAt(0)) >= 0) {
            body = body.substring(1);
        }
        for (DType t : values()) {
            if (t.code.equals(body)) {
                return t;
            }
        }
        String what;
        if (body.startsWith("O")) {
            what = " (object array of pickled Python objects)";
        } else if (body.startsWith("U") || body.startsWith("S") || body.startsWith("a")) {
            what = " (strings)";
        } else if (body.startsWith("c")) {
            what = " (complex numbers)";
        } else if (body.startsWith("M") || body.startsWith("m")) {
            what = " (dates and times)";
        } else {
            what = "";
        }
        throw new DataException(ErrorCode.DATA_DTYPE, source + ": unsupported dtype "
                + TerminalText.quote(descr) + what + "; expected one of " + supportedList()
                + "; convert with e.g. x.astype(np.float32)");
    }

    /** Byte order of a descr: '>' big-endian; '<', '|' and '=' (numpy files are written with
     *  an explicit order, '=' only appears in hand-made headers) little/native. */
    static ByteOrder byteOrder(String descr) {
        if (descr.startsWith(">")) {
            return ByteOrder.BIG_ENDIAN;
        }
        if (descr.startsWith("=")) {
            return ByteOrder.nativeOrder();
        }
        return ByteOrder.LITTLE_ENDIAN;
    }
}
