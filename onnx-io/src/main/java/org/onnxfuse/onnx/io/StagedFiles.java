package org.onnxfuse.onnx.io;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import org.onnxfuse.onnx.errors.ErrorCode;
import org.onnxfuse.onnx.errors.OutputException;

/**
 * Files written completely into temporaries next to their targets, not yet in place. {@link
 * #commit()} renames them over their targets in order; {@link #close()} deletes whatever was not
 * moved, so a run that fails before committing leaves nothing behind. Lets a caller write
 * several outputs and put them in place only once all were written.
 */
public final class StagedFiles implements AutoCloseable {
    /** A temporary and the path it is renamed to. */
    public record Move(Path temp, Path target) {
    }

    /** Writes a temporary file's content. */
    @FunctionalInterface
    public interface Content {
        void writeTo(Path temp) throws IOException;
    }

    private final List<Move> moves;
    private int committed;

    StagedFiles(List<Move> moves) {
        this.moves = List.copyOf(moves);
    }

    /** {@code target}'s content written into a temporary file in its folder. */
    public static StagedFiles write(Path target, Content content) {
        Path absolute = target.toAbsolutePath().normalize();
        Path temp = null;
        try {
            temp = TempFiles.create(absolute.getParent(), String.valueOf(absolute.getFileName()));
            content.writeTo(temp);
            return new StagedFiles(List.of(new Move(temp, absolute)));
        } catch (IOException e) {
            TempFiles.delete(temp);
            throw new OutputException(ErrorCode.OUTPUT_UNWRITABLE, "cannot write " + target + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            TempFiles.delete(temp);
            throw e;
        }
    }

    /** The paths the files go to, in commit order. */
    public List<Path> targets() {
        return moves.stream().map(Move::target).toList();
    }

    /** Moves every temporary over its target, in order. */
    public void commit() {
        for (; committed < moves.size(); committed++) {
            Move m = moves.get(committed);
            try {
                try {
                    Files.move(m.temp(), m.target(), StandardCopyOption.ATOMIC_MOVE);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(m.temp(), m.target(), StandardCopyOption.REPLACE_EXISTING);
                }
            } catch (IOException e) {
                throw new OutputException(ErrorCode.OUTPUT_UNWRITABLE, "cannot move the written file into place at "
                        + m.target() + ": " + e, e);
            }
            TempFiles.moved(m.temp());
        }
    }

    /** Deletes the targets already moved into place (a later output failed, so these must not stay alone). */
    public void removeCommitted() {
        for (int i = 0; i < committed; i++) {
            TempFiles.delete(moves.get(i).target());
        }
        committed = 0;
    }

    /** Deletes the temporaries not moved into place. */
    @Override
    public void close() {
        for (int i = committed; i < moves.size(); i++) {
            TempFiles.delete(moves.get(i).temp());
        }
    }
}
