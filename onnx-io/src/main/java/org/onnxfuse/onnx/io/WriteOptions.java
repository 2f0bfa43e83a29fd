package org.onnxfuse.onnx.io;

/**
 * Where {@link OnnxWriter} puts tensor data. By default tensors read from external data go to a
 * side file next to the output and all others stay inline; should the inline data exceed the
 * 2 GiB protobuf limit, initializers of 1 KiB and more are moved to the side file as well.
 *
 * @param externalThreshold initializers with more raw bytes than this go to the side file; -1:
 *                          only tensors that were external when read, {@link Long#MAX_VALUE}
 *                          with {@code inlineAll}: none
 * @param inlineAll         write every tensor inline, loading external data (models under 2 GiB)
 * @param sideFileName      file name (no folder) of the side file; null: {@code <output file name>.data}
 * @param alignment         offsets of tensors in the side file are multiples of this (1: packed)
 */
public record WriteOptions(long externalThreshold, boolean inlineAll, String sideFileName, long alignment) {
    /** Page size: lets ONNX Runtime memory-map the tensors. */
    public static final long PAGE_ALIGNMENT = 4096;
    static final long DEFAULT_ALIGNMENT = 64;
    static final long AUTOMATIC_THRESHOLD = 1024;

    public WriteOptions {
        if (alignment < 1 || Long.bitCount(alignment) != 1) {
            throw new IllegalArgumentException("alignment must be a power of two >= 1, found " + alignment);
        }
        if (externalThreshold < -1) {
            throw new IllegalArgumentException("externalThreshold must be >= 0 (or -1 for none), found " + externalThreshold);
        }
        if (sideFileName != null && (sideFileName.isEmpty() || sideFileName.contains("/") || sideFileName.contains("\\")
                || sideFileName.equals(".") || sideFileName.equals(".."))) {
            throw new IllegalArgumentException("side file name must be a plain file name without folders, found '"
                    + sideFileName + "'");
        }
    }

    /** External tensors stay external (in {@code <output>.data}), the rest inline; 64-byte alignment. */
    public static WriteOptions defaults() {
        return new WriteOptions(-1, false, null, DEFAULT_ALIGNMENT);
    }

    /** Initializers of more than {@code bytes} bytes (and tensors already external) go to {@code sideFileName}. */
    public static WriteOptions externalAbove(long bytes, String sideFileName) {
        if (bytes < 0) {
            throw new IllegalArgumentException("threshold must be >= 0, found " + bytes);
        }
        return new WriteOptions(bytes, false, sideFileName, DEFAULT_ALIGNMENT);
    }

    /** Like {@link #externalAbove(long, String)} with the side file {@code <output file name>.data}. */
    public static WriteOptions externalAbove(long bytes) {
        return externalAbove(bytes, null);
    }

    /** Everything inline, external data loaded: one self-contained file (under 2 GiB). */
    public static WriteOptions allInline() {
        return new WriteOptions(-1, true, null, DEFAULT_ALIGNMENT);
    }

    public WriteOptions withAlignment(long bytes) {
        return new WriteOptions(externalThreshold, inlineAll, sideFileName, bytes);
    }

    public WriteOptions withSideFileName(String name) {
        return new WriteOptions(externalThreshold, inlineAll, name, alignment);
    }
}
