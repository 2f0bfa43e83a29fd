package org.onnxfuse.fusion.group;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.onnxfuse.kernels.Backends;
import org.onnxfuse.kernels.ComputeBackend;
import org.onnxfuse.kernels.DenseMatrix;
import org.onnxfuse.kernels.GramKMeans;

/**
 * On CUDA the restarts run as one batch (the device's K-means asks for all of them at once), and
 * the grouping is the CPU's, which steps them one after another: every Gram-form case of
 * {@link KMeansRestartBatchTest}, twins with empty-group repairs included. Runs only where CUDA
 * works ({@code -Dgroups=gpu}).
 */
@Tag("gpu")
class KMeansRestartBatchCudaTest extends WithCpuBackend {

    @Test
    void batchedRestartsOnTheDeviceGroupAsTheCpu() {
        assumeTrue(Backends.cudaStatus().available(), () -> "no CUDA: " + Backends.cudaStatus().detail());
        int repaired = 0;
        try (ComputeBackend cuda = Backends.open("cuda", 0)) {
            for (KMeansRestartBatchTest.Case c : KMeansRestartBatchTest.cases()) {
                if (c.fit().factorForm()) {
                    continue; // the factor and cross forms step one restart at a time on every backend
                }
                ProjectedTargets fit = c.fit();
                try (GramKMeans onDevice = cuda.openGramKMeans(fit.crossColumns(), fit.gramColumns(),
                        fit.targetSquaredNorms(), fit.neurons())) {
                    assertTrue(onDevice.restartBatch(c.k()) >= Math.min(c.config().restarts(), 2), c.name());
                }
                Grouping expected = KMeansGrouping.group(backend, fit, c.layout(), c.scores(), c.k(), c.config());
                Grouping actual = KMeansGrouping.group(cuda, fit, c.layout(), c.scores(), c.k(), c.config());
                assertSameGrouping(expected, actual, c.name());
                repaired += expected.emptyGroupRepairs() > 0 ? 1 : 0;
            }
        }
        assertTrue(repaired >= 5, "cases with empty-group repairs: " + repaired);
    }

    /** Every field bit for bit, but the fused weights W U: a gemm, which the backends round differently. */
    static void assertSameGrouping(Grouping expected, Grouping actual, String what) {
        assertArrayEquals(expected.assignment(), actual.assignment(), what);
        assertArrayEquals(expected.costHistory(), actual.costHistory(), what);
        assertArrayEquals(expected.squaredCostHistory(), actual.squaredCostHistory(), what);
        assertEquals(expected.cost(), actual.cost(), 0.0, what);
        assertEquals(expected.iterations(), actual.iterations(), what);
        assertEquals(expected.restarts(), actual.restarts(), what);
        assertEquals(expected.emptyGroupRepairs(), actual.emptyGroupRepairs(), what);
        DenseMatrix fused = expected.fusedWeights();
        assertTrue(fused.maxAbsDifference(actual.fusedWeights()) <= 1e-12 * Math.max(1.0, fused.maxAbs()), what);
    }
}
