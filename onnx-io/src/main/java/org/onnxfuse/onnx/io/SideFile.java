package org.onnxfuse.onnx.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.Objects;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.ModelFormatException;

/**
 * An external-data file as it was when the model was read. Reads open the file, check it is still
 * the same file (inode, size, modification time) and read one range, so a model whose side file
 * was replaced fails loudly instead of decoding someone else's bytes. {@link #pin()} keeps a
 * channel open: the writer pins a side file before renaming a new file over its path, so models
 * already in memory keep reading the old contents.
 */
final class SideFile {
    private final Path path;
    private final Object fileKey;
    private final long size;
    private final FileTime modified;
    private FileChannel pinned;

    private SideFile(Path path, BasicFileAttributes attributes) {
        this.path = path;
        this.fileKey = attributes.fileKey();
        this.size = attributes.size();
        this.modified = attributes.lastModifiedTime();
    }

    /** Records the identity of an existing regular file ({@code realPath} already resolved). */
    static SideFile open(Path realPath) throws IOException {
        return new SideFile(realPath, Files.readAttributes(realPath, BasicFileAttributes.class));
    }

    Path path() {
        return path;
    }

    long size() {
        return size;
    }

    /** Keeps the current file open until this object is collected (see the class comment). */
    synchronized void pin() {
        if (pinned == null) {
            pinned = openChecked();
        }
    }

    /** {@code length} bytes at {@code offset}, little-endian, read-only, positioned at 0. */
    ByteBuffer read(long offset, int length) {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        withChannel(channel -> {
            readFully(channel, buffer, offset);
            return null;
        });
        buffer.flip();
        return buffer.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Copies a range into {@code target} at {@code targetOffset} without going through the heap. */
    void copyTo(long offset, long length, FileChannel target, long targetOffset) {
        withChannel(channel -> {
            long done = 0;
            while (done < length) {
                long n = channel.transferTo(offset + done, length - done, target.position(targetOffset + done));
                if (n <= 0) {
                    // transferTo may legitimately move 0 bytes; fall back to a buffered copy for the rest
                    ByteBuffer chunk = ByteBuffer.allocate((int) Math.min(1 << 20, length - done));
                    readFully(channel, chunk, offset + done);
                    chunk.flip();
                    while (chunk.hasRemaining()) {
                        target.write(chunk, targetOffset + done + chunk.position());
                    }
                    n = chunk.limit();
                }
                done += n;
            }
            return null;
        });
    }

    private interface ChannelWork {
        Object apply(FileChannel channel) throws IOException;
    }

    private void withChannel(ChannelWork work) {
        FileChannel channel;
        boolean transientChannel;
        synchronized (this) {
            channel = pinned;
        }
        transientChannel = channel == null;
        if (transientChannel) {
            channel = openChecked();
        }
        try {
            synchronized (channel) {
                work.apply(channel);
            }
        } catch (IOException e) {
            throw new ModelFormatException(ErrorCode.READ_FAILED, "cannot read external data file " + path + ": " + e);
        } finally {
            if (transientChannel) {
                closeQuietly(channel);
            }
        }
    }

    private void readFully(FileChannel channel, ByteBuffer buffer, long offset) throws IOException {
        long position = offset;
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, position);
            if (n < 0) {
                throw new ModelFormatException(ErrorCode.EXTERNAL_DATA_PAST_END, "external data file " + path
                        + " ended at byte " + position + ", expected " + buffer.remaining() + " more bytes");
            }
            position += n;
        }
    }

    private FileChannel openChecked() {
        FileChannel channel;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new ModelFormatException(ErrorCode.EXTERNAL_DATA_MISSING, "external data file " + path
                    + " can no longer be opened (" + e + "); it existed when the model was read");
        }
        try {
            BasicFileAttributes now = Files.readAttributes(path, BasicFileAttributes.class);
            boolean same = Objects.equals(fileKey, now.fileKey()) && size == now.size() && size == channel.size()
                    && modified.equals(now.lastModifiedTime());
            if (!same) {
                throw new ModelFormatException(ErrorCode.READ_FAILED, "external data file " + path
                        + " changed since the model was read (expected " + size + " bytes modified " + modified
                        + ", found " + now.size() + " bytes modified " + now.lastModifiedTime()
                        + "); read the model again");
            }
            return channel;
        } catch (IOException e) {
            closeQuietly(channel);
            throw new ModelFormatException(ErrorCode.READ_FAILED, "cannot read external data file " + path + ": " + e);
        } catch (RuntimeException e) {
            closeQuietly(channel);
            throw e;
        }
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing was written through this channel
        }
    }
}
