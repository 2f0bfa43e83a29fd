package org.onnxfuse.fusion.data;

import java.nio.file.Path;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.io.ForeignFormat;

/** Opens the data for one model input from a {@code .npy} file or from a {@code .npz} archive. */
public final class SampleArrays {
    private SampleArrays() {
    }

    /**
     * The array for input {@code inputName}: the whole {@code .npy} file, or the {@code .npz}
     * entry of that name. The returned array owns the file (and archive): close it.
     */
    public static SampleArray open(Path file, String inputName) {
        try {
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
        } catch (DataException e) {
            throw explainForeign(file, e);
        }
    }

    /**
     * A format error about {@code file} rewritten when the file is another framework's (a
     * torch.save tensor, a Keras file, ...), saying how to save NumPy data instead; else {@code e}.
     */
    public static DataException explainForeign(Path file, DataException e) {
        if (e.code() != ErrorCode.DATA_FORMAT) {
            return e;
        }
        return ForeignFormat.describe(file).filter(found -> !found.isNumpy())
                .map(found -> new DataException(ErrorCode.DATA_FORMAT, file + ": expected NumPy data (.npy, or .npz"
                        + " with one array per model input), found " + found.what() + "; save the samples with"
                        + " numpy.save('calib.npy', array) (from a PyTorch tensor: tensor.cpu().numpy())", e))
                .orElse(e);
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
