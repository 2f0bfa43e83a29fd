package org.onnxfuse.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The batched solve's contract on the CPU backend (the interface's default method). */
class CholeskySolveAllTest {
    private static ComputeBackend cpu;

    @BeforeAll
    static void open() {
        cpu = Backends.open("cpu", 1);
    }

    @AfterAll
    static void close() {
        cpu.close();
    }

    @Test
    void agreesExactlyWithOneSolvePerSystem() {
        SplittableRandom rng = new SplittableRandom(31);
        int[] orders = {1, 10, 26, 3, 70};
        int[] rhs = {1, 1, 4, 2, 5};
        List<DenseMatrix> systems = new ArrayList<>();
        List<DenseMatrix> rightHandSides = new ArrayList<>();
        double[] ridges = new double[orders.length];
        for (int i = 0; i < orders.length; i++) {
            systems.add(Reference.randomSpd(cpu, rng, orders[i]));
            rightHandSides.add(Reference.random(rng, orders[i], rhs[i]));
            ridges[i] = rng.nextDouble(0.0, 2.0);
        }
        List<DenseMatrix> all = cpu.choleskySolveAll(systems, rightHandSides, ridges);
        assertEquals(orders.length, all.size());
        for (int i = 0; i < orders.length; i++) {
            assertEquals(cpu.choleskySolve(systems.get(i), rightHandSides.get(i), ridges[i]), all.get(i), "system " + i);
        }
        assertEquals(List.of(), cpu.choleskySolveAll(List.of(), List.of(), new double[0]));
    }

    @Test
    void rejectsMismatchedArgumentsNamingTheSystem() {
        DenseMatrix s = DenseMatrix.identity(3);
        DenseMatrix b = DenseMatrix.zeros(3, 1);
        IllegalArgumentException count = assertThrows(IllegalArgumentException.class,
                () -> cpu.choleskySolveAll(List.of(s, s), List.of(b), new double[2]));
        assertEquals("choleskySolveAll: 2 systems need 2 right-hand sides and 2 ridges, found 1 right-hand sides"
                + " and 2 ridges", count.getMessage());
        assertThrows(IllegalArgumentException.class, () -> cpu.choleskySolveAll(List.of(s), List.of(b), new double[2]));
        IllegalArgumentException ridge = assertThrows(IllegalArgumentException.class,
                () -> cpu.choleskySolveAll(List.of(s, s, s), List.of(b, b, b), new double[] {0, 0, -1}));
        assertTrue(ridge.getMessage().startsWith("choleskySolveAll: system 2 of 3: choleskySolve: ridge must be"),
                ridge.getMessage());
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                () -> cpu.choleskySolveAll(List.of(s, s), List.of(b, DenseMatrix.zeros(2, 1)), new double[2]));
        assertTrue(shape.getMessage().contains("system 1 of 2: choleskySolve: B must have 3 rows"), shape.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> cpu.choleskySolveAll(Arrays.asList(s, null), List.of(b, b), new double[2]));
        assertEquals("choleskySolveAll: system 1 of 2 has a null S", missing.getMessage());
        assertThrows(NullPointerException.class, () -> cpu.choleskySolveAll(List.of(s), List.of(b), null));
    }

    @Test
    void reportsTheFirstSystemThatIsNotPositiveDefinite() {
        SplittableRandom rng = new SplittableRandom(32);
        DenseMatrix good = Reference.randomSpd(cpu, rng, 6);
        double[] bad = good.toColumnMajor();
        bad[4 + 4 * 6] = -100;   // the leading minor of order 5 is negative, the smaller ones positive
        DenseMatrix notSpd = new DenseMatrix(6, 6, bad);
        DenseMatrix b = Reference.random(rng, 6, 2);
        int lapack = assertThrows(NotPositiveDefiniteException.class, () -> cpu.choleskySolve(notSpd, b, 0.0))
                .failedMinor();
        assertEquals(5, lapack);
        NotPositiveDefiniteException e = assertThrows(NotPositiveDefiniteException.class,
                () -> cpu.choleskySolveAll(List.of(good, notSpd, notSpd), List.of(b, b, b), new double[3]));
        assertEquals(1, e.system());
        assertEquals(5, e.failedMinor());
        assertEquals(6, e.order());
        assertTrue(e.getMessage().startsWith("system 1 of 3: the 6 x 6 matrix"), e.getMessage());
        assertEquals(-1, new NotPositiveDefiniteException(6, 5, 0.0).system());
    }
}
