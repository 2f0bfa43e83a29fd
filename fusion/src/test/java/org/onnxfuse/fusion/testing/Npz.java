package org.onnxfuse.fusion.testing;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/** Writes {@code .npz} archives as {@code np.savez} does: one stored {@code name.npy} entry per array. */
public final class Npz {
    private Npz() {
    }

    /** Writes {@code arrays} (name to {@code .npy} bytes, see {@link Npy}) to {@code file}, in map order. */
    public static Path write(Path file, Map<String, byte[]> arrays) {
        try (OutputStream os = Files.newOutputStream(file); ZipOutputStream zip = new ZipOutputStream(os)) {
            for (Map.Entry<String, byte[]> a : arrays.entrySet()) {
                ZipEntry e = new ZipEntry(a.getKey() + ".npy");
                CRC32 crc = new CRC32();
                crc.update(a.getValue());
                e.setMethod(ZipEntry.STORED);
                e.setSize(a.getValue().length);
                e.setCompressedSize(a.getValue().length);
                e.setCrc(crc.getValue());
                zip.putNextEntry(e);
                zip.write(a.getValue());
                zip.closeEntry();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }
}
