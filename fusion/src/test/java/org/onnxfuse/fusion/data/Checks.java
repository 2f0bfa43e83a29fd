package org.onnxfuse.fusion.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.function.Executable;
import org.onnxfuse.onnx.errors.DataException;
import org.onnxfuse.onnx.errors.ErrorCode;

/** Assertions on the package's errors. */
final class Checks {
    private Checks() {
    }

    /** Asserts a DataException with this code, a one-line message containing every fragment. */
    static DataException fails(ErrorCode code, Executable action, String... fragments) {
        DataException e = assertThrows(DataException.class, action);
        assertEquals(code, e.code(), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message lacks '" + f + "': " + e.getMessage());
        }
        return e;
    }
}
