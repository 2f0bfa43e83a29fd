package org.onnxfuse.fusion.data;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;

/**
 * The central directory of a zip file, read directly so a stored entry's data offset is known
 * (java.util.zip does not expose it) and can be memory-mapped. Handles ZIP64, which numpy uses
 * for every entry it writes.
 */
final class ZipDirectory {
    static final int STORED = 0;
    static final int DEFLATED = 8;

    private static final int EOCD_SIG = 0x06054b50;
    private static final int ZIP64_LOCATOR_SIG = 0x07064b50;
    private static final int ZIP64_EOCD_SIG = 0x06064b50;
    private static final int CENTRAL_SIG = 0x02014b50;
    private static final int LOCAL_SIG = 0x04034b50;
    private static final int EOCD_BYTES = 22;
    private static final int MAX_COMMENT = 0xffff;
    private static final long MAX_DIRECTORY_BYTES = 1L << 30;

    /** One file in the archive, with sizes and offsets resolved from ZIP64 fields. */
    record Entry(String name, int method, int flags, long crc, long compressedSize,
                 long uncompressedSize, long localHeaderOffset) {
        boolean isDirectory() {
            return name.endsWith("/");
        }
    }

    private ZipDirectory() {
    }

    static List<Entry> read(FileChannel channel, long size, String source) {
        int tail = (int) Math.min(size, EOCD_BYTES + MAX_COMMENT);
        byte[] tailBytes = new byte[tail];
        DataFiles.readFully(channel, size - tail, tailBytes, tail, source);
        ByteBuffer t = ByteBuffer.wrap(tailBytes).order(ByteOrder.LITTLE_ENDIAN);
        int eocd = -1;
        for (int i = tail - EOCD_BYTES; i >= 0; i--) {
            if (t.getInt(i) == EOCD_SIG && i + EOCD_BYTES + (t.getShort(i + 20) & 0xffff) <= tail) {
                eocd = i;
                break;
            }
        }
        if (eocd < 0) {
            throw notZip(channel, size, source);
        }
        long eocdPosition = size - tail + eocd;
        long entries = t.getShort(eocd + 10) & 0xffff;
        long directorySize = t.getInt(eocd + 12) & 0xffffffffL;
        long directoryOffset = t.getInt(eocd + 16) & 0xffffffffL;
        if (entries == 0xffff || directorySize == 0xffffffffL || directoryOffset == 0xffffffffL) {
            long[] z = zip64End(channel, eocdPosition, source);
            entries = z[0];
            directorySize = z[1];
            directoryOffset = z[2];
        }
        if (directoryOffset < 0 || directorySize < 0 || directorySize > MAX_DIRECTORY_BYTES
                || directoryOffset + directorySize > eocdPosition) {
            throw corrupt(source, "central directory at " + directoryOffset + " (" + directorySize
                    + " bytes) lies outside the file of " + size + " bytes");
        }
        byte[] dir = new byte[(int) directorySize];
        DataFiles.readFully(channel, directoryOffset, dir, dir.length, source);
        ByteBuffer d = ByteBuffer.wrap(dir).order(ByteOrder.LITTLE_ENDIAN);
        List<Entry> list = new ArrayList<>();
        int p = 0;
        for (long k = 0; k < entries; k++) {
            if (p + 46 > dir.length || d.getInt(p) != CENTRAL_SIG) {
                throw corrupt(source, "central directory entry " + k + " of " + entries
                        + " is missing or damaged");
            }
            int flags = d.getShort(p + 8) & 0xffff;
            int method = d.getShort(p + 10) & 0xffff;
            long crc = d.getInt(p + 16) & 0xffffffffL;
            long compressed = d.getInt(p + 20) & 0xffffffffL;
            long uncompressed = d.getInt(p + 24) & 0xffffffffL;
            int nameLength = d.getShort(p + 28) & 0xffff;
            int extraLength = d.getShort(p + 30) & 0xffff;
            int commentLength = d.getShort(p + 32) & 0xffff;
            long localOffset = d.getInt(p + 42) & 0xffffffffL;
            int end = p + 46 + nameLength + extraLength + commentLength;
            if (end > dir.length) {
                throw corrupt(source, "central directory entry " + k + " runs past the directory");
            }
            Charset charset = (flags & 0x800) != 0 ? StandardCharsets.UTF_8 : cp437();
            String name = new String(dir, p + 46, nameLength, charset);
            // ZIP64 extra field: the 64-bit values, in this order, for each 32-bit field that is
            // saturated.
            int e = p + 46 + nameLength;
            int extraEnd = e + extraLength;
            while (e + 4 <= extraEnd) {
                int id = d.getShort(e) & 0xffff;
                int length = d.getShort(e + 2) & 0xffff;
                if (e + 4 + length > extraEnd) {
                    break;
                }
                if (id == 0x0001) {
                    int q = e + 4;
                    int qEnd = q + length;
                    if (uncompressed == 0xffffffffL && q + 8 <= qEnd) {
                        uncompressed = d.getLong(q);
                        q += 8;
                    }
                    if (compressed == 0xffffffffL && q + 8 <= qEnd) {
                        compressed = d.getLong(q);
                        q += 8;
                    }
                    if (localOffset == 0xffffffffL && q + 8 <= qEnd) {
                        localOffset = d.getLong(q);
                    }
                }
                e += 4 + length;
            }
            if (compressed < 0 || uncompressed < 0 || localOffset < 0
                    || localOffset > directoryOffset) {
                throw corrupt(source, "entry '" + name + "' has sizes or offset outside the file");
            }
            list.add(new Entry(name, method, flags, crc, compressed, uncompressed, localOffset));
            p = end;
        }
        return list;
    }

    /** Position of the entry's data: after its local header, whose extra field may differ from
     *  the central directory's (numpy writes ZIP64 extras only locally). */
    static long dataStart(FileChannel channel, Entry entry, long limit, String source) {
        byte[] local = new byte[30];
        if (entry.localHeaderOffset() + 30 > limit) {
            throw corrupt(source, "local header of '" + entry.name() + "' lies outside the file");
        }
        DataFiles.readFully(channel, entry.localHeaderOffset(), local, 30, source);
        ByteBuffer b = ByteBuffer.wrap(local).order(ByteOrder.LITTLE_ENDIAN);
        if (b.getInt(0) != LOCAL_SIG) {
            throw corrupt(source, "no local header for '" + entry.name() + "' at offset "
                    + entry.localHeaderOffset());
        }
        long start = entry.localHeaderOffset() + 30 + (b.getShort(26) & 0xffff)
                + (b.getShort(28) & 0xffff);
        if (start + entry.compressedSize() > limit) {
            throw corrupt(source, "data of '" + entry.name() + "' (" + entry.compressedSize()
                    + " bytes at " + start + ") runs past the entries");
        }
        return start;
    }

    private static long[] zip64End(FileChannel channel, long eocdPosition, String source) {
        if (eocdPosition < 20) {
            throw corrupt(source, "ZIP64 end locator missing");
        }
        byte[] locator = new byte[20];
        DataFiles.readFully(channel, eocdPosition - 20, locator, 20, source);
        ByteBuffer l = ByteBuffer.wrap(locator).order(ByteOrder.LITTLE_ENDIAN);
        if (l.getInt(0) != ZIP64_LOCATOR_SIG) {
            throw corrupt(source, "ZIP64 end locator missing");
        }
        long recordOffset = l.getLong(8);
        if (recordOffset < 0 || recordOffset + 56 > eocdPosition - 20) {
            throw corrupt(source, "ZIP64 end record offset " + recordOffset + " outside the file");
        }
        byte[] record = new byte[56];
        DataFiles.readFully(channel, recordOffset, record, 56, source);
        ByteBuffer r = ByteBuffer.wrap(record).order(ByteOrder.LITTLE_ENDIAN);
        if (r.getInt(0) != ZIP64_EOCD_SIG) {
            throw corrupt(source, "ZIP64 end record missing at " + recordOffset);
        }
        return new long[] {r.getLong(32), r.getLong(40), r.getLong(48)};
    }

    private static DataException notZip(FileChannel channel, long size, String source) {
        byte[] head = new byte[(int) Math.min(size, 6)];
        DataFiles.readFully(channel, 0, head, head.length, source);
        boolean npy = head.length == 6;
        for (int i = 0; npy && i < 6; i++) {
            npy = head[i] == NpyFormat.MAGIC[i];
        }
        String found = npy ? "a .npy file; read it as .npy"
                : size == 0 ? "an empty file" : "no zip end record (first bytes " + Text.hex(head, 6) + ")";
        return new DataException(ErrorCode.DATA_FORMAT, source
                + ": not a .npz file: expected a zip archive (np.savez), found " + found);
    }

    private static DataException corrupt(String source, String what) {
        return new DataException(ErrorCode.DATA_FORMAT, source + ": corrupt .npz (zip) archive: "
                + what);
    }

    private static Charset cp437() {
        try {
            return Charset.forName("IBM437");
        } catch (RuntimeException e) {
            return StandardCharsets.ISO_8859_1;
        }
    }
}
