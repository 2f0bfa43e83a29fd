package org.onnxfuse.fusion.data;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * Test-only zip writer: stored or deflated entries, optionally with ZIP64 fields everywhere
 * (numpy writes ZIP64 local headers; the 64-bit central directory only appears beyond 4 GB,
 * which this forces at small sizes).
 */
final class ZipWriter {
    private record Written(byte[] name, int method, long crc, long compressed, long size, long offset) {
    }

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final List<Written> written = new ArrayList<>();
    private final boolean zip64;

    ZipWriter(boolean zip64) {
        this.zip64 = zip64;
    }

    ZipWriter add(String name, byte[] data, boolean deflate) {
        return add(name, data, deflate, Integer.MAX_VALUE);
    }

    /** Keeps only the first {@code keepCompressed} bytes of the entry's body (a damaged entry). */
    ZipWriter add(String name, byte[] data, boolean deflate, int keepCompressed) {
        CRC32 crc = new CRC32();
        crc.update(data);
        byte[] body = data;
        if (deflate) {
            Deflater d = new Deflater(Deflater.DEFAULT_COMPRESSION, true);
            d.setInput(data);
            d.finish();
            ByteArrayOutputStream c = new ByteArrayOutputStream();
            byte[] buf = new byte[4096];
            while (!d.finished()) {
                c.write(buf, 0, d.deflate(buf));
            }
            d.end();
            body = c.toByteArray();
        }
        if (keepCompressed < body.length) {
            body = java.util.Arrays.copyOf(body, keepCompressed);
        }
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        Written w = new Written(n, deflate ? 8 : 0, crc.getValue(), body.length, data.length, out.size());
        ByteBuffer h = le(30 + n.length + (zip64 ? 20 : 0));
        h.putInt(0x04034b50).putShort((short) (zip64 ? 45 : 20)).putShort((short) 0x800)
                .putShort((short) w.method).putShort((short) 0).putShort((short) 0x21)
                .putInt((int) w.crc)
                .putInt(zip64 ? -1 : (int) w.compressed).putInt(zip64 ? -1 : (int) w.size)
                .putShort((short) n.length).putShort((short) (zip64 ? 20 : 0)).put(n);
        if (zip64) {
            h.putShort((short) 1).putShort((short) 16).putLong(w.size).putLong(w.compressed);
        }
        out.writeBytes(h.array());
        out.writeBytes(body);
        written.add(w);
        return this;
    }

    byte[] finish() {
        long directoryOffset = out.size();
        for (Written w : written) {
            ByteBuffer c = le(46 + w.name.length + (zip64 ? 28 : 0));
            c.putInt(0x02014b50).putShort((short) 45).putShort((short) (zip64 ? 45 : 20))
                    .putShort((short) 0x800).putShort((short) w.method).putShort((short) 0)
                    .putShort((short) 0x21).putInt((int) w.crc)
                    .putInt(zip64 ? -1 : (int) w.compressed).putInt(zip64 ? -1 : (int) w.size)
                    .putShort((short) w.name.length).putShort((short) (zip64 ? 28 : 0))
                    .putShort((short) 0).putShort((short) 0).putShort((short) 0).putInt(0)
                    .putInt(zip64 ? -1 : (int) w.offset).put(w.name);
            if (zip64) {
                c.putShort((short) 1).putShort((short) 24).putLong(w.size).putLong(w.compressed)
                        .putLong(w.offset);
            }
            out.writeBytes(c.array());
        }
        long directorySize = out.size() - directoryOffset;
        if (zip64) {
            long recordOffset = out.size();
            ByteBuffer r = le(56);
            r.putInt(0x06064b50).putLong(44).putShort((short) 45).putShort((short) 45).putInt(0)
                    .putInt(0).putLong(written.size()).putLong(written.size()).putLong(directorySize)
                    .putLong(directoryOffset);
            out.writeBytes(r.array());
            ByteBuffer l = le(20);
            l.putInt(0x07064b50).putInt(0).putLong(recordOffset).putInt(1);
            out.writeBytes(l.array());
        }
        ByteBuffer e = le(22);
        e.putInt(0x06054b50).putShort((short) 0).putShort((short) 0)
                .putShort((short) (zip64 ? 0xffff : written.size()))
                .putShort((short) (zip64 ? 0xffff : written.size()))
                .putInt(zip64 ? -1 : (int) directorySize).putInt(zip64 ? -1 : (int) directoryOffset)
                .putShort((short) 0);
        out.writeBytes(e.array());
        return out.toByteArray();
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }
}
