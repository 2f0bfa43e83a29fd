package org.onnxfuse.fusion.collect;

import java.util.List;

/** Arrays kept batch by batch, joined once at the end. */
public final class FloatChunks {
    private FloatChunks() {
    }

    /** The chunks one after the other in one array. */
    public static float[] concat(List<float[]> chunks) {
        long total = 0;
        for (float[] c : chunks) {
            total += c.length;
        }
        float[] all = new float[Math.toIntExact(total)];
        int offset = 0;
        for (float[] c : chunks) {
            System.arraycopy(c, 0, all, offset, c.length);
            offset += c.length;
        }
        return all;
    }
}
