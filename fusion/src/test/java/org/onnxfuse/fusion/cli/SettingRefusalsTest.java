package org.onnxfuse.fusion.cli;

import org.onnxfuse.fusion.pipeline.GradientSettings;
import org.onnxfuse.fusion.train.LearningRate;
import org.onnxfuse.fusion.train.OptimizerKind;
import org.onnxfuse.fusion.train.StartingPoint;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxfuse.fusion.importance.ClassWeights;
import org.onnxfuse.fusion.importance.ImportanceMethod;
import org.onnxfuse.fusion.pipeline.Fusion;
import org.onnxfuse.fusion.pipeline.FusionMethod;
import org.onnxfuse.fusion.pipeline.GroupingChoice;
import org.onnxfuse.fusion.pipeline.InvalidSettingException;
import org.onnxfuse.fusion.pipeline.LevelSelection;
import org.onnxfuse.fusion.testing.Fixtures;
import org.onnxfuse.onnx.errors.ErrorCode;

/**
 * The same bad setting through both front ends: the command line exits 2 with one error line,
 * and the library builder throws {@link InvalidSettingException} with the very same message.
 * Checks that need the parents' plans (widths against levels) are included: the builder raises
 * them from {@code fuse()}, the command line before it reads the calibration data.
 */
class SettingRefusalsTest {
    @TempDir
    Path dir;

    /** One bad setting: its options, the same through the builder, and a part of the message. */
    record Case(String name, List<String> options, int parents, UnaryOperator<Fusion.Builder> setting,
                boolean withData, String messagePart, String family) {
        Case(String name, List<String> options, int parents, UnaryOperator<Fusion.Builder> setting,
             boolean withData, String messagePart) {
            this(name, options, parents, setting, withData, messagePart, parents == 3 ? "mlp_k4_p" : "mlp_k2_p");
        }

        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Arguments> cases() {
        return Stream.of(
                new Case("width 0", List.of("--width", "1:0"), 2, b -> b.width(1, 0), true,
                        "width of level 1 (--width 1:0): expected at least 1, found 0"),
                new Case("width factor 0", List.of("--width", "0"), 2, b -> b.widthFactor(0), true,
                        "width factor (--width): expected a finite number above 0, found 0.0"),
                new Case("negative batch size", List.of("--batch-size", "-4"), 2, b -> b.batchSize(-4), true,
                        "batch size (--batch-size): expected at least 1 sample, found -4"),
                new Case("unknown level in --width", List.of("--width", "3:10"), 2, b -> b.width(3, 10), true,
                        "expected one of the hidden levels 1..1 (level 2 keeps the classes), found level 3"),
                new Case("width on the class level", List.of("--width", "2:10"), 2, b -> b.width(2, 10), true,
                        "width (--width 2:10): expected one of the hidden levels 1..1"),
                new Case("width beyond all parents' neurons", List.of("--width", "2.5"), 2, b -> b.widthFactor(2.5),
                        true, "fused width of level 1 (--width): expected at most the 512 neurons all parents have"
                                + " there, found 640"),
                new Case("hf-linear with 3 parents", List.of("--method", "hf-linear"), 3,
                        b -> b.method(FusionMethod.HF_LINEAR), true,
                        "parents of hf-linear: expected exactly 2 parents (kf-linear fuses more), found 3"),
                new Case("hf-linear with widths", List.of("--method", "hf-linear", "--width", "1.5"), 2,
                        b -> b.method(FusionMethod.HF_LINEAR).widthFactor(1.5), true,
                        "widths (--width): expected --method kf-linear, kf-gradient or kf-auto, found hf-linear, which keeps"),
                new Case("grouping choice for hf-linear", List.of("--method", "hf-linear", "--grouping", "both"), 2,
                        b -> b.method(FusionMethod.HF_LINEAR).groupingChoice(GroupingChoice.BOTH), true,
                        "grouping (--grouping): expected --method kf-linear, found hf-linear"),
                new Case("both groupings with 3 parents", List.of("--grouping", "both"), 3,
                        b -> b.groupingChoice(GroupingChoice.BOTH), true,
                        "parents of --grouping both: expected exactly 2 parents, as one-to-one matching pairs two,"
                                + " found 3"),
                new Case("both groupings with widths", List.of("--grouping", "both", "--width", "1.5"), 2,
                        b -> b.groupingChoice(GroupingChoice.BOTH).widthFactor(1.5), true,
                        "grouping (--grouping both): expected parent 0's widths, as one-to-one matching keeps them,"
                                + " found other widths (--width)"),
                new Case("negative samples", List.of("--samples", "-1"), 2, b -> b.samples(-1), true,
                        "samples (--samples): expected 0 (all) or more, found -1"),
                new Case("negative threads", List.of("--threads", "-1"), 2, b -> b.threads(-1), true,
                        "threads (--threads): expected 0 (one per processor) to 1024, found -1"),
                new Case("too many threads", List.of("--threads", "5000"), 2, b -> b.threads(5000), true,
                        "found 5000"),
                new Case("negative ridge", List.of("--ridge", "-1e-3"), 2, b -> b.ridge(-1e-3), true,
                        "ridge factor (--ridge): expected a finite number >= 0, found -0.001"),
                new Case("NaN ridge", List.of("--ridge", "NaN"), 2, b -> b.ridge(Double.NaN), true, "found NaN"),
                new Case("no restarts", List.of("--restarts", "0"), 2, b -> b.restarts(0), true,
                        "K-means restarts (--restarts): expected at least 1, found 0"),
                new Case("unknown device", List.of("--device", "gpu"), 2, b -> b.device("gpu"), true,
                        "device (--device): expected one of [auto, cpu, cuda], found 'gpu'"),
                new Case("importance for a baseline", List.of("--method", "average", "--importance", "uniform"), 2,
                        b -> b.method(FusionMethod.AVERAGE).importance(ImportanceMethod.UNIFORM), true,
                        "importance (--importance): expected --method kf-linear, hf-linear, kf-gradient or kf-auto, found average"),
                new Case("kf-linear without data", List.of("--method", "kf-linear"), 2,
                        b -> b.method(FusionMethod.KF_LINEAR), false,
                        "calibration data (--data): expected some for kf-linear, which runs the parents on it"),
                new Case("labels without data", List.of("--labels", Fixtures.data("calib400_y.npy").toString()), 2,
                        b -> b.method(FusionMethod.WEIGHT_MATCH).labels(Fixtures.data("calib400_y.npy")), false,
                        "labels (--labels): expected calibration data (--data) for them to label, found none"),
                new Case("confidence class weights without labels", List.of("--class-weights", "confidence"), 2,
                        b -> b.classWeights(ClassWeights.CONFIDENCE), true,
                        "class weights (--class-weights): expected --labels with confidence"),
                new Case("class weights for a baseline", List.of("--method", "average", "--class-weights", "uniform"),
                        2, b -> b.method(FusionMethod.AVERAGE).classWeights(ClassWeights.UNIFORM), true,
                        "class weights (--class-weights): expected --method kf-linear, hf-linear, kf-gradient or kf-auto, found average"),
                new Case("no training epochs", List.of("--method", "kf-gradient", "--epochs", "0"), 2,
                        b -> b.method(FusionMethod.KF_GRADIENT).epochs(0), true,
                        "epochs (--epochs): expected at least 1, found 0"),
                new Case("negative learning rate", List.of("--method", "kf-gradient", "--lr", "-0.1"), 2,
                        b -> b.method(FusionMethod.KF_GRADIENT).learningRate(LearningRate.parse("-0.1")), true,
                        "learning rate (--lr): expected auto or a finite number above 0, found -0.1"),
                new Case("learning rate of level 0", List.of("--method", "kf-gradient", "--lr", "0:1e-3"), 2,
                        b -> b.method(FusionMethod.KF_GRADIENT).learningRate(0, LearningRate.fixed(1e-3)), true,
                        "learning rate of level 0 (--lr 0:0.001): expected a level numbered from 1, found 0"),
                new Case("learning rate of a level the parents lack", List.of("--method", "kf-gradient", "--lr",
                        "3:1e-3"), 2, b -> b.method(FusionMethod.KF_GRADIENT).learningRate(3, LearningRate.fixed(1e-3)),
                        true, "learning rate of level 3 (--lr 3:0.001): expected a level from 1 to 2, found 3"),
                new Case("unknown optimizer", List.of("--method", "kf-gradient", "--optimizer", "lbfgs"), 2,
                        b -> b.method(FusionMethod.KF_GRADIENT).optimizer(OptimizerKind.parse("lbfgs")), true,
                        "optimizer (--optimizer): expected one of [adam, sgd], found 'lbfgs'"),
                new Case("negative weight decay", List.of("--method", "kf-auto", "--weight-decay", "-1"), 2,
                        b -> b.method(FusionMethod.KF_AUTO).weightDecay(-1), true,
                        "weight decay (--weight-decay): expected a finite number >= 0, found -1.0"),
                new Case("no patience", List.of("--method", "kf-gradient", "--patience", "0"), 2,
                        b -> b.method(FusionMethod.KF_GRADIENT).patience(0), true,
                        "patience (--patience): expected at least 1 epoch, found 0"),
                new Case("negative temperature", List.of("--method", "kf-gradient", "--distill", "-2"), 2,
                        b -> b.method(FusionMethod.KF_GRADIENT).distill(-2), true,
                        "distillation temperature (--distill): expected a finite number > 0 (0: no distillation),"
                                + " found -2.0"),
                new Case("negative refinement", List.of("--method", "kf-auto", "--refine", "-3"), 2,
                        b -> b.method(FusionMethod.KF_AUTO).refine(-3), true,
                        "refinement epochs (--refine): expected 0 (none) or more, found -3"),
                new Case("refinement of kf-gradient", List.of("--method", "kf-gradient", "--refine", "5"), 2,
                        b -> b.method(FusionMethod.KF_GRADIENT).refine(5), true,
                        "refinement (--refine): expected --method kf-auto (kf-gradient trains every level already),"
                                + " found kf-gradient"),
                new Case("training settings for kf-linear", List.of("--method", "kf-linear", "--epochs", "5"), 2,
                        b -> b.method(FusionMethod.KF_LINEAR).epochs(5), true,
                        "training settings (--epochs, --lr, --optimizer, --weight-decay, --patience, --perturb,"
                                + " --reinit): expected --method kf-gradient or kf-auto, found kf-linear, which trains"
                                + " nothing"),
                new Case("perturbation above 1", List.of("--method", "kf-gradient", "--perturb", "1.5"), 2,
                        b -> b.method(FusionMethod.KF_GRADIENT).trainingStart(StartingPoint.perturb(1.5)), true,
                        "perturbation (--perturb): expected a weight in (0, 1] on fresh values, found 1.5"),
                new Case("distillation for a baseline", List.of("--method", "average", "--distill", "2"), 2,
                        b -> b.method(FusionMethod.AVERAGE).distill(2), true,
                        "distillation (--distill): expected --method kf-gradient or kf-auto, found average"),
                new Case("unknown training segments", List.of("--method", "kf-gradient", "--segments", "layers"), 2,
                        b -> b.method(FusionMethod.KF_GRADIENT).segments(GradientSettings.Segments.fromName("layers")),
                        true, "training segments (--segments): expected levels or blocks, found 'layers'"),
                new Case("training segments for kf-linear", List.of("--method", "kf-linear", "--segments", "levels"), 2,
                        b -> b.method(FusionMethod.KF_LINEAR).segments(GradientSettings.Segments.LEVELS), true,
                        "training segments (--segments): expected --method kf-gradient or kf-auto, found kf-linear,"
                                + " which trains nothing"),
                new Case("training from nowhere", List.of("--method", "kf-gradient", "--train-from", "scratch"), 2,
                        b -> b.method(FusionMethod.KF_GRADIENT).trainFrom(GradientSettings.Start.fromName("scratch")),
                        true, "training start (--train-from): expected parents or linear, found 'scratch'"),
                new Case("one parent", List.of(), 1, b -> b, true, "parents: expected at least 2 parent models, found 1"),
                new Case("keep and fuse levels together", List.of("--keep-levels", "1", "--fuse-levels", "2"), 2,
                        b -> b.keepLevel(1).fuseLevel(2), true, "level selection (--keep-levels 1, --fuse-levels 2):"
                                + " expected one of the two (each keeps what the other fuses), found both"),
                new Case("keeping a level the parents lack", List.of("--keep-levels", "1,3"), 2,
                        b -> b.keepLevel(1).keepLevel(3), true,
                        "kept level 3 (--keep-levels 3): expected a level from 1 to 2, found 3"),
                new Case("fusing a level the parents lack", List.of("--fuse-levels", "2-4"), 2,
                        b -> b.levels(LevelSelection.parseFuse("2-4")), true,
                        "fused level 3 (--fuse-levels 3): expected a level from 1 to 2, found 3"),
                new Case("bad --keep-levels syntax", List.of("--keep-levels", "1-x"), 2,
                        b -> b.levels(LevelSelection.parseKeep("1-x")), true,
                        "--keep-levels 1-x: 'x' is not a whole number; expected levels such as 1,3 or 1-2"),
                new Case("bad --fuse-levels syntax", List.of("--fuse-levels", "2;3"), 2,
                        b -> b.levels(LevelSelection.parseFuse("2;3")), true,
                        "--fuse-levels 2;3: '2;3' is not a whole number; expected levels such as 2,3 or 2-3"),
                new Case("keeping from a parent whose inputs are fused", List.of("--keep-levels", "2:1"), 2,
                        b -> b.keepLevel(2, 1), true,
                        "parent of kept level 2 (--keep-levels 2:1): expected level 2's inputs to be parent 1's own"
                                + " neurons"),
                new Case("a width on a kept level", List.of("--keep-levels", "1", "--width", "1:100"), 2,
                        b -> b.keepLevel(1).width(1, 100), true,
                        "width (--width 1:100): expected a level that is fused, found level 1, kept from parent 0"),
                new Case("keeping a level for a baseline", List.of("--method", "average", "--keep-levels", "1"), 2,
                        b -> b.method(FusionMethod.AVERAGE).keepLevel(1), true,
                        "level selection (--keep-levels, --fuse-levels): expected --method kf-linear, hf-linear,"
                                + " kf-gradient or kf-auto, found average"),
                new Case("keeping part of a shared neuron space", List.of("--keep-levels", "5"), 2,
                        b -> b.keepLevel(5), true, "level selection (--keep-levels 5): expected levels 5, 6, 8"
                                + " kept or fused together, as they share neuron space 3 (their neurons are joined),"
                                + " found 5 kept and 6, 8 fused", "dag/resnet_p"))
                .map(Arguments::of);
    }

    private static List<Path> parents(int count, String family) {
        List<Path> out = new ArrayList<>();
        for (int k = 0; k < count; k++) {
            out.add(Fixtures.model(family + k + ".onnx"));
        }
        return out;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void sameMessageFromTheCommandLineAndTheBuilder(Case c) {
        Path out = dir.resolve("fused.onnx");
        List<String> args = new ArrayList<>(parents(c.parents(), c.family()).stream().map(Path::toString).toList());
        if (c.withData()) {
            args.addAll(List.of("--data", Fixtures.data("calib400_x.npy").toString()));
        }
        args.addAll(c.options());
        args.addAll(List.of("-o", out.toString(), "-q"));
        CliRunner cli = new CliRunner();
        int exit = cli.run(args.toArray(String[]::new));
        String[] lines = cli.err.toString().strip().split("\n");
        String cliLine = lines[lines.length - 1];

        Fusion.Builder builder = Fusion.builder().parentFiles(parents(c.parents(), c.family())).device("cpu").log(s -> { });
        if (c.withData()) {
            builder.calibration(Fixtures.data("calib400_x.npy"));
        }
        InvalidSettingException e = assertThrows(InvalidSettingException.class,
                () -> c.setting().apply(builder).build().fuse());

        assertEquals(ErrorCode.USAGE.exitCode(), exit, cli.err.toString());
        assertEquals(ErrorCode.USAGE, e.code());
        assertTrue(e.getMessage().contains(c.messagePart()), e.getMessage());
        assertEquals("onnx-fuse: error: usage: " + e.getMessage(), cliLine);
        assertFalse(Files.exists(out), "nothing written");
    }
}
