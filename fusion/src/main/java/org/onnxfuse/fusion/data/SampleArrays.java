package org.onnxfuse.fusion.data;

import java.nio.file.Path;

/** Opens the data for one model input from a {@code .npy} file or from a {@code .npz} archive. */
public final class SampleArrays {
    private SampleArrays() {
    }

    /**
     * The array for input {@code inputName}: the whole {@code .npy} file, or the {@code .npz}
     * entry of that name. The returned array owns the file (and archive): close it.
     */
    public static SampleArray open(Path file, String inputName) {
        if (!String.valueOf(file.getFileName()).endsWith(".npz")) {
            return NpyArray.open(file);
        }
        NpzArchive archive = NpzArchive.open(file);
        try {
            return new ArchiveEntry(archive, archive.array(inputName));
        } catch (RuntimeException e) {
            archive.close();
            throw e;
        }
    }

    /** An archive entry that closes its archive with it. */
    private record ArchiveEntry(NpzArchive archive, NpyArray entry) implements SampleArray {
        @Override
        public String source() {
            return entry.source();
        }

        @Override
        public ArrayHeader header() {
            return entry.header();
        }

        @Override
        public float[] readFloats(long firstSample, int count) {
            return entry.readFloats(firstSample, count);
        }

        @Override
        public void readFloats(long firstSample, int count, float[] dst) {
            entry.readFloats(firstSample, count, dst);
        }

        @Override
        public long[] readLongs(long firstSample, int count) {
            return entry.readLongs(firstSample, count);
        }

        @Override
        public void readLongs(long firstSample, int count, long[] dst) {
            entry.readLongs(firstSample, count, dst);
        }

        @Override
        public void close() {
            archive.close();
        }
    }
}
