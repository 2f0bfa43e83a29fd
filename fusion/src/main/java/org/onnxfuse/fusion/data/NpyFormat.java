package org.onnxfuse.fusion.data;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.TerminalText;

/**
 * The {@code .npy} header: magic, version, header length and the Python dict literal
 * {@code {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }}.
 */
final class NpyFormat {
    static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    /** Real headers are a few hundred bytes; a bigger length field means a corrupt file. */
    static final long MAX_HEADER_BYTES = 1 << 20;
    private static final Set<String> KEYS = Set.of("descr", "fortran_order", "shape");

    /** Sequential bytes of a {@code .npy} stream (a file, a zip entry). */
    interface Input {
        void readFully(byte[] dst, int len);
    }

    private NpyFormat() {
    }

    /**
     * Reads and parses the header from the start of a {@code .npy} stream.
     *
     * @param length total bytes of the stream, to reject lengths the stream cannot hold
     * @param source name for messages
     * @throws DataException DATA_FORMAT for a bad magic, version or header; DATA_DTYPE for an
     *     unsupported element type
     */
    static ArrayHeader read(Input in, long length, String source) {
        int first = (int) Math.min(length, 10);
        byte[] prefix = new byte[12];
        in.readFully(prefix, first);
        if (first == 0) {
            throw badMagic(prefix, 0, source);
        }
        for (int i = 0; i < Math.min(first, MAGIC.length); i++) {
            if (prefix[i] != MAGIC[i]) {
                throw badMagic(prefix, first, source);
            }
        }
        if (first < 10) {
            throw new DataException(ErrorCode.DATA_FORMAT, source + ": truncated .npy file: "
                    + length + " bytes, expected at least 10 (magic, version, header length)");
        }
        int major = prefix[6] & 0xff;
        int minor = prefix[7] & 0xff;
        if (major < 1 || major > 3 || minor != 0) {
            throw new DataException(ErrorCode.DATA_FORMAT, source + ": unsupported .npy format version "
                    + major + "." + minor + "; supported: 1.0, 2.0, 3.0");
        }
        int prefixLength;
        long headerLength;
        if (major == 1) {
            prefixLength = 10;
            headerLength = (prefix[8] & 0xff) | (prefix[9] & 0xff) << 8;
        } else {
            prefixLength = 12;
            if (length < prefixLength) {
                throw new DataException(ErrorCode.DATA_FORMAT, source + ": truncated .npy file: "
                        + length + " bytes, expected at least 12 for a version " + major + ".0 header");
            }
            byte[] more = new byte[2];
            in.readFully(more, 2);
            prefix[10] = more[0];
            prefix[11] = more[1];
            headerLength = ByteBuffer.wrap(prefix, 8, 4).order(ByteOrder.LITTLE_ENDIAN).getInt()
                    & 0xffffffffL;
        }
        if (headerLength > MAX_HEADER_BYTES) {
            throw new DataException(ErrorCode.DATA_FORMAT, source + ": .npy header length "
                    + headerLength + " bytes, expected at most " + MAX_HEADER_BYTES
                    + "; the file is corrupt");
        }
        if (prefixLength + headerLength > length) {
            throw new DataException(ErrorCode.DATA_FORMAT, source + ": truncated .npy file: header of "
                    + headerLength + " bytes declared, but only " + (length - prefixLength)
                    + " bytes follow the header length field");
        }
        byte[] raw = new byte[(int) headerLength];
        in.readFully(raw, raw.length);
        String text = decode(raw, major, source);
        return parse(text, prefixLength + headerLength, source);
    }

    private static DataException badMagic(byte[] prefix, int n, String source) {
        String hint = "";
        if (n >= 2 && prefix[0] == 'P' && prefix[1] == 'K') {
            hint = "; this looks like a zip (.npz) archive, read it as .npz";
        }
        return new DataException(ErrorCode.DATA_FORMAT, source
                + ": not a .npy file: expected magic 93 4e 55 4d 50 59 (\\x93NUMPY), found "
                + (n == 0 ? "an empty file" : Text.hex(prefix, Math.min(n, 6))) + hint);
    }

    private static String decode(byte[] raw, int major, String source) {
        if (major < 3) {
            return new String(raw, StandardCharsets.ISO_8859_1);
        }
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(raw)).toString();
        } catch (CharacterCodingException e) {
            throw new DataException(ErrorCode.DATA_FORMAT, source
                    + ": .npy version 3.0 header is not valid UTF-8", e);
        }
    }

    /** Validates the header dict; {@code dataOffset} is where the header text ends. */
    static ArrayHeader parse(String text, long dataOffset, String source) {
        Object value;
        try {
            Literal p = new Literal(text);
            value = p.value();
            p.end();
        } catch (IllegalArgumentException e) {
            throw new DataException(ErrorCode.DATA_FORMAT, source + ": bad .npy header: "
                    + e.getMessage() + "; header " + TerminalText.quote(text.strip()));
        }
        if (!(value instanceof Map<?, ?> dict)) {
            throw badHeader(source, "expected a dict", text);
        }
        if (!dict.keySet().equals(KEYS)) {
            throw badHeader(source, "expected keys ['descr', 'fortran_order', 'shape'], found "
                    + Literal.repr(new ArrayList<>(dict.keySet())), text);
        }
        Object descr = dict.get("descr");
        if (descr instanceof List<?>) {
            throw new DataException(ErrorCode.DATA_DTYPE, source + ": unsupported dtype "
                    + TerminalText.quote(Literal.repr(descr)) + " (structured record array); expected one of "
                    + DType.supportedList() + "; save each field as its own array");
        }
        if (!(descr instanceof String d)) {
            throw badHeader(source, "'descr' must be a string, found " + Literal.repr(descr), text);
        }
        DType dtype = DType.fromDescr(d, source);
        ByteOrder order = dtype.itemSize() == 1 ? ByteOrder.LITTLE_ENDIAN : DType.byteOrder(d);
        if (!(dict.get("fortran_order") instanceof Boolean fortran)) {
            throw badHeader(source, "'fortran_order' must be True or False, found "
                    + Literal.repr(dict.get("fortran_order")), text);
        }
        if (!(dict.get("shape") instanceof List<?> dims)) {
            throw badHeader(source, "'shape' must be a tuple of integers, found "
                    + Literal.repr(dict.get("shape")), text);
        }
        long[] shape = new long[dims.size()];
        for (int i = 0; i < shape.length; i++) {
            if (!(dims.get(i) instanceof Long dim) || dim < 0) {
                throw badHeader(source, "'shape' must be a tuple of non-negative integers, found "
                        + Literal.repr(dims), text);
            }
            shape[i] = dim;
        }
        ArrayHeader header = new ArrayHeader(dtype, order, shape, fortran, dataOffset);
        if (header.dataBytes() < 0) {
            throw badHeader(source, "shape " + Text.shape(shape) + " of " + dtype.numpyName()
                    + " is too large for any file", text);
        }
        return header;
    }

    private static DataException badHeader(String source, String what, String text) {
        return new DataException(ErrorCode.DATA_FORMAT, source + ": bad .npy header: " + what
                + "; header " + TerminalText.quote(text.strip()));
    }

    /** A parsed Python tuple; a plain list otherwise, so messages render them as written. */
    private static final class Tuple extends ArrayList<Object> {
        private static final long serialVersionUID = 1L;
    }

    /** The Python literal subset numpy writes: dict, tuple, list, str, int, True, False, None. */
    static final class Literal {
        /** numpy writes at most a dict of tuples (3 with a structured dtype's list); deeper is not a header. */
        static final int MAX_NESTING = 16;

        private final String s;
        private int i;
        private int depth;

        Literal(String s) {
            this.s = s;
        }

        Object value() {
            skipSpace();
            if (i >= s.length()) {
                throw new IllegalArgumentException("unexpected end");
            }
            char c = s.charAt(i);
            if ((c == '{' || c == '(' || c == '[') && ++depth > MAX_NESTING) {
                throw new IllegalArgumentException("values nested more than " + MAX_NESTING + " deep at " + i);
            }
            switch (c) {
                case '{':
                    return closing(dict());
                case '(':
                    return closing(sequence(')', new Tuple()));
                case '[':
                    return closing(sequence(']', new ArrayList<>()));
                case '\'':
                case '"':
                    return string(c);
                default:
                    if (c == '-' || c == '+' || Character.isDigit(c)) {
                        return integer();
                    }
                    String word = word();
                    switch (word) {
                        case "True":
                            return Boolean.TRUE;
                        case "False":
                            return Boolean.FALSE;
                        case "None":
                            return null;
                        default:
                            throw new IllegalArgumentException("unexpected "
                                    + (word.isEmpty() ? "'" + c + "'" : "'" + word + "'") + " at " + i);
                    }
            }
        }

        private <T> T closing(T container) {
            depth--;
            return container;
        }

        void end() {
            skipSpace();
            if (i != s.length()) {
                throw new IllegalArgumentException("unexpected text after the dict at " + i);
            }
        }

        private Map<String, Object> dict() {
            i++;
            Map<String, Object> map = new LinkedHashMap<>();
            while (true) {
                skipSpace();
                if (peek() == '}') {
                    i++;
                    return map;
                }
                Object key = value();
                if (!(key instanceof String k)) {
                    throw new IllegalArgumentException("dict key must be a string at " + i);
                }
                skipSpace();
                expect(':');
                Object v = value();
                if (map.containsKey(k)) {
                    throw new IllegalArgumentException("duplicate key '" + k + "'");
                }
                map.put(k, v);
                skipSpace();
                if (peek() == ',') {
                    i++;
                } else if (peek() != '}') {
                    throw new IllegalArgumentException("expected ',' or '}' at " + i);
                }
            }
        }

        private List<Object> sequence(char close, List<Object> list) {
            i++;
            while (true) {
                skipSpace();
                if (peek() == close) {
                    i++;
                    return list;
                }
                list.add(value());
                skipSpace();
                if (peek() == ',') {
                    i++;
                } else if (peek() != close) {
                    throw new IllegalArgumentException("expected ',' or '" + close + "' at " + i);
                }
            }
        }

        private String string(char quote) {
            i++;
            StringBuilder b = new StringBuilder();
            while (i < s.length() && s.charAt(i) != quote) {
                char c = s.charAt(i++);
                if (c == '\\' && i < s.length()) {
                    char e = s.charAt(i++);
                    switch (e) {
                        case 'n' -> b.append('\n');
                        case 't' -> b.append('\t');
                        case 'r' -> b.append('\r');
                        case '0' -> b.append('\0');
                        default -> b.append(e);
                    }
                } else {
                    b.append(c);
                }
            }
            if (i >= s.length()) {
                throw new IllegalArgumentException("unterminated string");
            }
            i++;
            return b.toString();
        }

        private Long integer() {
            int start = i;
            if (s.charAt(i) == '-' || s.charAt(i) == '+') {
                i++;
            }
            while (i < s.length() && Character.isDigit(s.charAt(i))) {
                i++;
            }
            String digits = s.substring(start, i);
            // Python 2 numpy wrote long dimensions as 3L.
            if (i < s.length() && (s.charAt(i) == 'L' || s.charAt(i) == 'l')) {
                i++;
            }
            try {
                return Long.parseLong(digits.startsWith("+") ? digits.substring(1) : digits);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad integer '" + digits + "' at " + start);
            }
        }

        private String word() {
            int start = i;
            while (i < s.length() && Character.isLetter(s.charAt(i))) {
                i++;
            }
            return s.substring(start, i);
        }

        private void expect(char c) {
            if (peek() != c) {
                throw new IllegalArgumentException("expected '" + c + "' at " + i);
            }
            i++;
        }

        private char peek() {
            if (i >= s.length()) {
                throw new IllegalArgumentException("unexpected end");
            }
            return s.charAt(i);
        }

        private void skipSpace() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
        }

        /** Python-like rendering of a parsed value, for messages. */
        static String repr(Object v) {
            if (v == null) {
                return "None";
            }
            if (v instanceof String str) {
                return "'" + str + "'";
            }
            if (v instanceof Boolean bool) {
                return bool ? "True" : "False";
            }
            if (v instanceof List<?> list) {
                boolean tuple = v instanceof Tuple;
                StringBuilder b = new StringBuilder(tuple ? "(" : "[");
                for (int k = 0; k < list.size(); k++) {
                    b.append(k > 0 ? ", " : "").append(repr(list.get(k)));
                }
                return b.append(tuple ? (list.size() == 1 ? ",)" : ")") : "]").toString();
            }
            if (v instanceof Map<?, ?> map) {
                StringBuilder b = new StringBuilder("{");
                map.forEach((k, x) -> b.append(b.length() > 1 ? ", " : "").append(repr(k))
                        .append(": ").append(repr(x)));
                return b.append('}').toString();
            }
            return String.valueOf(v);
        }
    }
}
