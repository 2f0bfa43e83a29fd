#!/usr/bin/env python3
"""Tests of the benchmark scripts themselves, against testdata/fake_cli.py (no Java needed):

    python3 bench/test_bench.py
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import benchlib as bl  # noqa: E402
import run_gradient  # noqa: E402
import run_quality  # noqa: E402
import run_scale  # noqa: E402
import run_speed  # noqa: E402

TORCH_PYTHON = "/usr/bin/python3"  # Debian's python3-torch, what bench/scale_models.py needs


def torch_missing():
    """Why the torch builder cannot run here (None when it can)."""
    try:
        proc = subprocess.run([TORCH_PYTHON, "-c", "import torch, numpy"], capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        return f"{TORCH_PYTHON}: {e}"
    return None if proc.returncode == 0 else f"{TORCH_PYTHON} has no torch/numpy (Debian python3-torch)"


FAKE = f"{sys.executable} {HERE / 'testdata' / 'fake_cli.py'}"
PLAIN_METHODS = "kf-linear,hf-linear,average,weight-match,act-match"


def npy_v1(shape, payload):
    header = "{'descr': '<f2', 'fortran_order': False, 'shape': %s, }" % (tuple(shape),)
    total = 10 + len(header) + 1
    header += " " * (-total % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1") + payload


class ReplicateNpyTest(unittest.TestCase):
    def test_shape_patched_header_length_kept_data_repeated(self):
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "a.npy", Path(tmp) / "b.npy"
            payload = bytes(range(2 * 3 * 4))
            src.write_bytes(npy_v1((3, 2, 2), payload))
            self.assertEqual(30, run_speed.replicate_npy(src, dst, 10))
            out = dst.read_bytes()
            header_len = int.from_bytes(out[8:10], "little")
            self.assertEqual(src.read_bytes()[:10], out[:10])  # same magic, version and header length
            header = out[10:10 + header_len].decode("latin1")
            self.assertIn("'shape': (30, 2, 2)", header)
            self.assertTrue(header.endswith("\n"))
            self.assertEqual(payload * 10, out[10 + header_len:])

    def test_real_calibration_file(self):
        src = run_speed.bl.DATA / "calib400_x.npy"
        with tempfile.TemporaryDirectory() as tmp:
            dst = Path(tmp) / "x.npy"
            run_speed.replicate_npy(src, dst, 3)
            raw = src.read_bytes()
            out = dst.read_bytes()
            self.assertEqual(len(out), 128 + 3 * (len(raw) - 128))
            self.assertIn(b"'shape': (1200, 1, 28, 28)", out[:128])


class ScriptsTest(unittest.TestCase):
    def test_quality_with_a_failing_method(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["FAKE_CLI_FAIL"] = "average"
            try:
                code = run_quality.main(["--command", FAKE, "--out-dir", tmp, "--sets", "mlp", "--k", "2,4",
                                         "--calibration", "400", "--methods", PLAIN_METHODS])
            finally:
                del os.environ["FAKE_CLI_FAIL"]
            self.assertEqual(1, code)
            result = bl.read_results(Path(tmp) / "quality.json.gz")
            methods = [(r["K"], r["method"]) for r in result["runs"]]
            self.assertIn((2, "hf-linear"), methods)
            self.assertNotIn((4, "hf-linear"), methods)
            failed = [r for r in result["runs"] if "error" in r]
            self.assertEqual({"average"}, {r["method"] for r in failed})
            kf = next(r for r in result["runs"] if r["K"] == 4 and r["method"] == "kf-linear")
            self.assertEqual(0.9, kf["accuracy"]["fused"])
            self.assertEqual(4, len(kf["accuracy"]["parents"]))
            md = (Path(tmp) / "quality.md").read_text()
            self.assertIn("| K=2, 400 samples | 61.00 | 88.00 | **90.00** | 89.00 | error | 55.00 | 70.00 |", md)
            self.assertIn("| K=4, 400 samples | 63.00 | 88.00 | **90.00** | n/a | error |", md)
            self.assertIn("| K=4, 400 | kf-linear > best parent | pass |", md)
            self.assertIn("| K=2, 400 | kf-linear > average | not measured |", md)
            self.assertEqual({"mlp"}, {r["set"] for r in result["runs"]})
            self.assertNotIn("Other architectures", md)

    def test_quality_other_architectures(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["FAKE_CLI_FAIL"] = "act-match"
            try:
                code = run_quality.main(["--command", FAKE, "--out-dir", tmp, "--sets", "bn,mlp,vgg", "--k", "4",
                                         "--calibration", "400,5000", "--methods", PLAIN_METHODS])
            finally:
                del os.environ["FAKE_CLI_FAIL"]
            self.assertEqual(1, code)
            result = bl.read_results(Path(tmp) / "quality.json.gz")
            self.assertEqual(["mlp", "vgg", "bn"], result["sets"])  # canonical order, whatever the option's
            order = [(r["set"], r["K"], r["calibration"]) for r in result["runs"]]
            self.assertEqual([("mlp", 4, 400)] * 4 + [("mlp", 4, 5000)] * 4 + [("vgg", 2, 400)] * 5
                             + [("vgg", 2, 5000)] * 5 + [("bn", 2, 400)] * 5 + [("bn", 2, 5000)] * 5, order)
            bn = next(r for r in result["runs"] if r["set"] == "bn" and r["method"] == "hf-linear")
            self.assertEqual(["bn_p0.onnx", "bn_p1.onnx"], bn["parents"])  # file order, p0 first
            self.assertEqual(["bn_p0.onnx", "bn_p1.onnx"], [p["file"] for p in bn["accuracy"]["parents"]])
            md = (Path(tmp) / "quality.md").read_text()
            mlp_at, other_at, targets_at = (md.index("| K=4, 400 samples |"), md.index("## Other architectures, K=2"),
                                            md.index("## Targets"))
            self.assertLess(mlp_at, other_at)
            self.assertLess(other_at, targets_at)
            self.assertIn("| setting | best parent | ensemble | kf-linear | hf-linear | average | weight-match |"
                          " act-match | ensemble - kf-linear |", md[other_at:])
            self.assertIn("| vgg, 400 samples | 61.00 | 88.00 | **90.00** | 89.00 | 40.00 | 55.00 | error | -2.00 |", md)
            self.assertLess(md.index("| vgg, 5000 samples |"), md.index("| bn, 400 samples |"))
            self.assertIn("- bn: 60.00, 61.00", md)
            self.assertIn("| bn K=2, 5000 | kf-linear > best parent | pass |", md)
            self.assertIn("| vgg K=2, 400 | kf-linear > average | pass |", md)
            self.assertIn("| vgg K=2, 400 | kf-linear > act-match | not measured |", md)
            self.assertIn("- bn K=2, 400, act-match: exit 3: onnx-fuse: error: fake failure for act-match", md)
            per_setting = {}
            for t in result["targets"]:
                per_setting.setdefault(t["setting"], []).append(t["target"])
            self.assertEqual(["K=4, 400", "K=4, 5000", "vgg K=2, 400", "vgg K=2, 5000", "bn K=2, 400",
                              "bn K=2, 5000"], list(per_setting))
            self.assertEqual(["kf-linear > average", "kf-linear > weight-match", "kf-linear > act-match",
                              "kf-linear > best parent"], per_setting["bn K=2, 400"])

    def test_quality_importance_variants(self):
        with tempfile.TemporaryDirectory() as tmp:
            code = run_quality.main(["--command", FAKE, "--out-dir", tmp, "--sets", "mlp", "--k", "4",
                                     "--calibration", "400", "--methods", "kf-linear,kf-linear:deeplift,average"])
            self.assertEqual(0, code)
            result = bl.read_results(Path(tmp) / "quality.json.gz")
            deeplift = next(r for r in result["runs"] if r["method"] == "kf-linear:deeplift")
            self.assertEqual("kf-linear", deeplift["config"]["method"])
            self.assertEqual("deeplift", deeplift["config"]["importance"])
            md = (Path(tmp) / "quality.md").read_text()
            self.assertIn("| setting | best parent | ensemble | kf-linear | kf-linear:deeplift | average |", md)
            self.assertIn("| K=4, 400 samples | 63.00 | 88.00 | 90.00 | **90.50** | 40.00 |", md)
            self.assertIn("| K=4, 400 | kf-linear:deeplift > best parent | pass |", md)
            self.assertIn("| K=4, 400 | kf-linear:deeplift > act-match | not measured |", md)

    def test_quality_sets_option(self):
        self.assertEqual(["mlp", "zoo", "mlpmm"], run_quality.sets_option("mlpmm, zoo,mlp"))
        with self.assertRaises(Exception):
            run_quality.sets_option("mlp,resnext")
        for name in run_quality.SETS:
            for f in run_quality.parent_files(name, 2):
                self.assertTrue(f.is_file(), f)

    def test_gradient(self):
        with tempfile.TemporaryDirectory() as tmp:
            code = run_gradient.main(["--command", FAKE, "--out-dir", tmp, "--sets", "mlp,vgg", "--k", "2",
                                      "--calibration", "400", "--variants", "kf-linear,kf-gradient,average",
                                      "--repeat", "2"])
            self.assertEqual(0, code)
            result = bl.read_results(Path(tmp) / "gradient.json.gz")
            self.assertEqual(6, len(result["runs"]))
            grad = next(r for r in result["runs"] if r["set"] == "vgg" and r["variant"] == "kf-gradient")
            self.assertEqual(2, len(grad["wallSeconds"]))
            self.assertEqual(["--method", "kf-gradient"], grad["options"])
            self.assertEqual(20, grad["levels"][0]["training"]["epochs"])
            md = (Path(tmp) / "gradient.md").read_text()
            self.assertIn("| mlp K=2, 400 | 61.00 | 88.00 | 90.00 (", md)
            self.assertIn("| **91.00** (", md)
            self.assertIn("| vgg K=2, 400 |", md)
        for sweep in run_gradient.SWEEPS.values():
            for options in sweep.values():
                self.assertIn("--method", options)

    def test_speed(self):
        with tempfile.TemporaryDirectory() as tmp:
            code = run_speed.main(["--command", FAKE, "--out-dir", tmp, "--settings", "2/400,8/5000",
                                   "--repeats", "3", "--memory-repeats", "1", "--diagnose-threads", "2"])
            self.assertEqual(0, code)
            result = bl.read_results(Path(tmp) / "speed.json.gz")
            self.assertEqual(run_speed.METHODS, list(result["speed"]))
            self.assertEqual({"2/400"}, set(result["speed"]["hf-linear"]))  # two parents only
            self.assertEqual({"2/400", "8/5000"}, set(result["speed"]["act-match"]))
            s = result["speed"]["kf-linear"]["2/400"]["summary"]
            self.assertEqual(3, s["runs"])
            self.assertLessEqual(s["wallSeconds"]["min"], s["wallSeconds"]["median"])
            self.assertGreater(s["peakRssKiB"]["median"], 0)
            self.assertEqual(203.7, s["stagesMsMedian"]["statistics_ms"])
            self.assertEqual(50, result["speed"]["kf-linear"]["2/400"]["referenceSeconds"])
            self.assertIsNone(result["speed"]["average"]["2/400"]["referenceSeconds"])
            base = result["speed"]["average"]["8/5000"]["summary"]
            self.assertEqual(3, base["runs"])
            self.assertEqual({"read_ms", "fuse_ms", "write_ms", "total_ms"}, set(base["stagesMsMedian"]))
            self.assertEqual({"5000", "50000"}, set(result["memory"]["bySamples"]))
            self.assertIsNotNone(result["memory"]["growth"])
            self.assertAlmostEqual(0.2566, result["diagnose"][0]["minRatioToGemm"], places=3)
            verdicts = {t["target"].split(" (")[0]: t["pass"] for t in result["targets"]}
            self.assertTrue(verdicts["2 parents / 400 samples under 3 s"])
            self.assertFalse(verdicts["statistics >= 50% of the GEMM rate"])
            md = (Path(tmp) / "speed.md").read_text()
            self.assertIn("| parents / samples | reference kf-linear | kf-linear | kf-linear:uniform | hf-linear |"
                          " average | weight-match | act-match |", md)
            self.assertRegex(md, r"\| 8/5000 \| 1111 \| [0-9.]+ \| [0-9.]+ \| n/a \| [0-9.]+ \|")
            self.assertRegex(md, r"\| 8/5000 \| kf-linear \| [0-9.]+ \|")
            # the per-stage table: evaluate (never reported without an evaluation set) is left out,
            # the baselines have read/fuse/write/total only
            self.assertIn("| parents / samples | method | read | importance | inference | statistics | grouping | solve |"
                          " fuse | write | total | wall |", md)
            self.assertIn("| 2/400 | kf-linear | 41 | 120 | 513 | 204 | 618 | 95 | 1650 | 22 | 1830 |", md)
            self.assertIn("| 2/400 | average | 41 |  |  |  |  |  | 150 | 22 | 1830 |", md)
            self.assertIn("| FAIL |", md)

    def test_speed_with_a_failing_method_and_a_method_subset(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["FAKE_CLI_FAIL"] = "average"
            try:
                code = run_speed.main(["--command", FAKE, "--out-dir", tmp, "--settings", "2/400,4/400",
                                       "--methods", "average,kf-linear", "--repeats", "2",
                                       "--skip", "memory,diagnose"])
            finally:
                del os.environ["FAKE_CLI_FAIL"]
            self.assertEqual(1, code)
            result = bl.read_results(Path(tmp) / "speed.json.gz")
            self.assertEqual(["average", "kf-linear"], list(result["speed"]))
            failed = result["speed"]["average"]["4/400"]
            self.assertEqual(2, failed["summary"]["failed"])
            self.assertIn("fake failure", failed["runs"][0]["error"])
            self.assertIsNone(failed["summary"]["wallSeconds"]["median"])
            verdicts = {t["target"].split(" (")[0]: t["pass"] for t in result["targets"]}
            self.assertTrue(verdicts["2 parents / 400 samples under 3 s"])  # kf-linear judged, not average
            self.assertIsNone(verdicts["8 parents / 5000 samples under 10 s"])
            md = (Path(tmp) / "speed.md").read_text()
            self.assertRegex(md, r"\| 4/400 \| 55 \|  \(2 failed\) \| [0-9.]+ \|")
            self.assertIn("| 4/400 | average (2 failed) |", md)

    def test_speed_without_kf_linear_leaves_the_time_targets_unmeasured(self):
        with tempfile.TemporaryDirectory() as tmp:
            code = run_speed.main(["--command", FAKE, "--out-dir", tmp, "--settings", "2/400", "--methods",
                                   "weight-match", "--repeats", "1", "--skip", "memory,diagnose"])
            self.assertEqual(0, code)
            result = bl.read_results(Path(tmp) / "speed.json.gz")
            self.assertIsNone(result["targets"][0]["pass"])
            md = (Path(tmp) / "speed.md").read_text()
            self.assertIn("| 2/400 |  | ", md)
            self.assertIn("| 2 parents / 400 samples under 3 s (kf-linear, median wall) |  | not measured |", md)


def scale_case(widths, levels):
    """A manifest entry: per parent its levels (positions, fan-in, width) and forward FLOPs."""
    return {"models": [{"forwardFlops": 100 * (i + 1),
                        "levels": [{"positions": p, "fanIn": d, "width": w[i]} for p, d, w in levels]}
                       for i in range(widths)]}


class ScaleTest(unittest.TestCase):
    def test_floor_counts(self):
        self.assertEqual(2 * 10 * 3 * 3 + 2 * 10 * 3 * 4 + 2 * 10 * 4 * 4, run_scale.statistics_flops(10, 3, 4))
        self.assertEqual(10 * 3 * 4 + 2 * 10 * 3 * 4 + 10 * 4 * 5, run_scale.statistics_flops(10, 3, 4, symmetric=True))
        # two parents of widths (4, 6) on a Conv level of 9 positions and fan-in 28, then (10, 10) on a Gemm
        case = scale_case(2, [(9, 28, (4, 6)), (1, 37, (10, 10))])
        f = run_scale.floor_flops(case, 5)
        self.assertEqual(5 * (100 + 200 + 100), f["forward"])  # both parents, and the fused model as parent 0
        self.assertEqual([run_scale.statistics_flops(45, 28, 10), run_scale.statistics_flops(5, 37, 20)], f["levels"])
        self.assertEqual(f["forward"] + sum(f["levels"]), f["total"])
        self.assertAlmostEqual(1.0, run_scale.exponent(2.0, 10.0, 400, 2000))
        self.assertAlmostEqual(math.log(1.5) / math.log(4), run_scale.exponent(2.0, 3.0, 2, 8))
        self.assertIsNone(run_scale.exponent(None, 3.0, 2, 8))

    def test_error_line_skips_stack_frames(self):
        err = ("onnx-fuse: level 2/3\nException in thread \"main\" java.lang.OutOfMemoryError: Java heap space\n"
               "\tat org.onnxfuse.X.y(X.java:1)\n\t... 3 more\n\tat org.onnxfuse.fusion.cli.Main.main(Main.java:14)\n")
        self.assertEqual('Exception in thread "main" java.lang.OutOfMemoryError: Java heap space',
                         run_scale.error_line(err))
        self.assertEqual("onnx-fuse: error: no", run_scale.error_line("\nonnx-fuse: error: no\n\n"))

    def test_a_case_that_cannot_be_built_is_a_row(self):
        with tempfile.TemporaryDirectory() as tmp:
            code = run_scale.main(["--command", FAKE, "--out-dir", tmp, "--cache-dir", tmp, "--quick",
                                   "--cases", "mlp-k2", "--samples", "16", "--torch-python", "/bin/false"])
            self.assertEqual(1, code)
            result = bl.read_results(Path(tmp) / "scale_quick.json.gz")
            self.assertEqual([], result["runs"])
            self.assertEqual("mlp-k2", result["buildFailures"][0]["case"])
            md = (Path(tmp) / "scale_quick.md").read_text()
            self.assertIn("| mlp-k2 | | | not built |", md)
            self.assertIsNotNone(result["diagnose"][0]["loadAverageAfter"])
            self.assertIn("| mlp-k2, 2000 samples: whole command within 3x of the floor |  | not measured |", md)

    def test_quick_cases_with_the_fake_cli(self):
        missing = torch_missing()
        if missing:
            self.skipTest(missing)
        with tempfile.TemporaryDirectory() as tmp:
            code = run_scale.main(["--command", FAKE, "--out-dir", tmp, "--cache-dir", str(Path(tmp) / "cache"),
                                   "--quick", "--cases", "mlp-k2", "--samples", "16,32", "--repeats", "2",
                                   "--torch-python", TORCH_PYTHON])
            self.assertEqual(0, code)
            os.environ["FAKE_CLI_FAIL"] = "kf-linear"  # the second case fails
            try:
                code = run_scale.main(["--command", FAKE, "--out-dir", tmp, "--cache-dir", str(Path(tmp) / "cache"),
                                       "--quick", "--cases", "vgg11-k2", "--samples", "16", "--stem", "failing",
                                       "--torch-python", TORCH_PYTHON])
            finally:
                del os.environ["FAKE_CLI_FAIL"]
            self.assertEqual(1, code)
            result = bl.read_results(Path(tmp) / "scale_quick.json.gz")
            self.assertEqual([16, 32], [e["samples"] for e in result["runs"]])
            e = result["runs"][0]
            self.assertEqual(2, len(e["runs"]))
            self.assertEqual(0, e["failed"])
            self.assertEqual(3, len(e["floorFlops"]["levels"]))  # 192-128-128-10
            self.assertAlmostEqual(35.16159287814959, result["gemmGflops"])  # sample_diagnose.json
            self.assertAlmostEqual(e["floorFlops"]["total"] / 35.16159287814959e9, e["floorSeconds"])
            self.assertAlmostEqual(e["wallSeconds"] / e["floorSeconds"], e["ratioToFloor"])
            self.assertEqual(203.7, e["stagesMsMedian"]["statistics_ms"])
            self.assertEqual(["before", "after"], [d["when"] for d in result["diagnose"]])
            self.assertEqual([("samples", 16, 32)], [(s["kind"], s["from"], s["to"]) for s in result["scaling"]])
            md = (Path(tmp) / "scale_quick.md").read_text()
            self.assertRegex(md, r"\| mlp-k2 \| 2 \| 32 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|")
            self.assertIn("| samples | mlp-k2 | 16 -> 32 |", md)
            (Path(tmp) / "scale_quick.md").unlink()
            self.assertEqual(0, run_scale.main(["--render", str(Path(tmp) / "scale_quick.json.gz")]))
            self.assertEqual(md, (Path(tmp) / "scale_quick.md").read_text())
            failing = bl.read_results(Path(tmp) / "failing.json.gz")
            self.assertEqual(1, failing["runs"][0]["failed"])
            self.assertEqual(3, failing["runs"][0]["runs"][0]["exitCode"])
            md = (Path(tmp) / "failing.md").read_text()
            self.assertIn("| vgg11-k2 | 2 | 16 | failed |", md)
            self.assertIn("3: onnx-fuse: error: fake failure for kf-linear |", md)
            self.assertIn("| vgg11-k2, 2000 samples: whole command within 3x of the floor |  | not measured |", md)


if __name__ == "__main__":
    unittest.main()
