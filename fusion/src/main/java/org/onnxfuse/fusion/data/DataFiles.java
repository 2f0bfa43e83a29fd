package org.onnxfuse.fusion.data;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;

/** Opening data files with the project's error codes. */
final class DataFiles {
    private DataFiles() {
    }

    static FileChannel open(Path path, String expected) {
        if (Files.isDirectory(path)) {
            throw new DataException(ErrorCode.IS_DIRECTORY, path + ": is a directory, expected "
                    + expected);
        }
        if (!Files.exists(path)) {
            throw new DataException(ErrorCode.FILE_NOT_FOUND, path + ": file not found, expected "
                    + expected);
        }
        try {
            return FileChannel.open(path, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new DataException(ErrorCode.FILE_NOT_FOUND, path + ": file not found, expected "
                    + expected, e);
        } catch (IOException e) {
            throw new DataException(ErrorCode.READ_FAILED, path + ": cannot open: " + e, e);
        }
    }

    static long size(FileChannel channel, String source) {
        try {
            return channel.size();
        } catch (IOException e) {
            throw new DataException(ErrorCode.READ_FAILED, source + ": cannot read the size: " + e, e);
        }
    }

    /** Reads exactly {@code len} bytes at {@code position}; running off the end is DATA_FORMAT. */
    static void readFully(FileChannel channel, long position, byte[] dst, int len, String source) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(dst, 0, len);
        try {
            while (b.hasRemaining()) {
                if (channel.read(b, position + b.position()) < 0) {
                    throw new DataException(ErrorCode.DATA_FORMAT, source + ": file ends at byte "
                            + (position + b.position()) + ", expected " + len + " bytes from "
                            + position + "; the file is truncated");
                }
            }
        } catch (IOException e) {
            throw new DataException(ErrorCode.READ_FAILED, source + ": read failed: " + e, e);
        }
    }

    static void closeQuietly(AutoCloseable c) {
        if (c != null) {
            try {
                c.close();
            } catch (Exception ignored) {
                // closing a read-only channel; nothing useful to report
            }
        }
    }
}
