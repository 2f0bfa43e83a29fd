#!/usr/bin/env python3
"""Scale benchmark (issue 11): large parents against a measured floor, one command:

    python3 bench/run_scale.py [--cases mlp-k2,vgg11-k2] [--samples 400,2000] [--quick]

1. `onnx-fuse diagnose --bench --json` measures the GEMM rate (float64, one 2048^3 product) of
   this machine, at the start and again at the end of the run; the higher of the two is the rate.
2. bench/scale_models.py (run with --torch-python, Debian's python3-torch; python3-torchvision for
   alexnet) builds each case's parents and calibration data into a cache folder (--cache-dir,
   never committed) and counts every model's work from its layer shapes.
3. Each case and sample count runs the fusion under `/usr/bin/time` (peak RSS), --repeats times,
   interleaved: whole-command wall time (JVM start included), exit code (and the last line of
   stderr when it fails), the report's stage timings, whole and per level.
4. The floor of a run: FLOPs of one forward pass of every parent and of the fused model (parent
   0's widths) over the samples, plus the statistics GEMMs of every level (X^T X, X^T A, A^T A;
   see bench/README.md), divided by the GEMM rate. The table gives wall / floor, and the scaling
   exponents log(t2/t1) / log(n2/n1) in samples (per case) and in parents (mlp-k2 against
   mlp-k8).

Writes bench/results/scale.json.gz (raw) and scale.md (tables, targets pass/FAIL). Runner: Python 3
standard library only; exit 1 when any run failed (failed runs are rows saying so).
"""

import argparse
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib as bl

TIME = "/usr/bin/time"
CASES = ["mlp-k2", "vgg11-k2", "mlp-k8", "alexnet-k2"]
DEFAULT_CASES = ["mlp-k2", "vgg11-k2", "mlp-k8", "alexnet-k2"]
STAGES = ["read_ms", "importance_ms", "inference_ms", "statistics_ms", "grouping_ms", "solve_ms", "fuse_ms",
          "write_ms", "total_ms"]
LEVEL_STAGES = ["inference_ms", "statistics_ms", "grouping_ms", "solve_ms"]
TARGET_RATIO = 3.0
TARGET_RATIO_CASES = ["mlp-k2", "mlp-k8", "vgg11-k2"]
TARGET_RATIO_SAMPLES = 2000
LINEAR_EXPONENT = 1.1  # "linear": the exponent of a pair of runs at most this
DEFAULT_CACHE = bl.REPO / "bench" / ".cache" / "scale"
BUILDER = Path(__file__).resolve().parent / "scale_models.py"


# ---------------------------------------------------------------- the floor

def statistics_flops(n, d, m, symmetric=False):
    """FLOPs of one level's statistics over n rows: X^T X (n x d), X^T A (A: n x m), A^T A.
    Issue 11's count, 2 n d^2 + 2 n d m + 2 n m^2; `symmetric`: as diagnose --bench counts them
    (the symmetric products by syrk, half of the matrix): n d (d + 1) + 2 n d m + n m (m + 1)."""
    if symmetric:
        return n * d * (d + 1) + 2 * n * d * m + n * m * (m + 1)
    return 2 * n * d * d + 2 * n * d * m + 2 * n * m * m


def floor_flops(case, samples, symmetric=False):
    """{"forward", "statistics", "levels": [per level statistics FLOPs], "total"} for one run of a case.
    Forward: every parent and the fused model (it has parent 0's widths, so parent 0's count).
    Statistics per level: n = samples x positions, d = parent 0's fan-in with the bias column,
    m = the parents' widths summed."""
    models = case["models"]
    forward = samples * (sum(m["forwardFlops"] for m in models) + models[0]["forwardFlops"])
    levels = []
    for i, level in enumerate(models[0]["levels"]):
        n = samples * level["positions"]
        m = sum(model["levels"][i]["width"] for model in models)
        levels.append(statistics_flops(n, level["fanIn"], m, symmetric))
    stats = sum(levels)
    return {"forward": forward, "statistics": stats, "levels": levels, "total": forward + stats}


def exponent(t1, t2, n1, n2):
    """log(t2 / t1) / log(n2 / n1), or None when a figure is missing."""
    if not t1 or not t2 or n1 == n2:
        return None
    return math.log(t2 / t1) / math.log(n2 / n1)


# ---------------------------------------------------------------- running

def java_prefix(args):
    if args.command:
        return shlex.split(args.command)
    return [args.java, f"-Xmx{args.xmx}", "-jar", str(args.jar)]


def diagnose(args, when):
    bl.progress(f"diagnose --bench ({when}) ...")
    cmd = (["nice", "-n", str(args.nice)] if args.nice else []) + java_prefix(args) + [
        "diagnose", "--bench", "--json"] + (["--bench-size", "small"] if args.quick else [])
    code, wall, out, err = run_group(cmd, args.timeout)
    entry = {"when": when, "exitCode": code, "wallSeconds": round(wall, 3), "loadAverageAfter": load_average()}
    try:
        report = json.loads(out) if code == 0 else None
    except ValueError:
        report = None
    if report is None or "gemm" not in report.get("bench", {}):
        entry["error"] = bl.tail(err, 1) or bl.tail(out, 1) or f"exit code {code}"
    else:
        bench = report["bench"]
        entry["gemm"] = bench["gemm"]
        entry["gemmGflops"] = bench["gemm"]["gflops"]
        entry["description"] = bench.get("description")
        entry["threads"] = bench.get("threads")
        entry["statistics"] = [{k: s.get(k) for k in ("label", "d", "m", "rows", "gflops", "ratioToGemm")}
                               for s in bench.get("statistics", [])]
        bl.progress(f"  GEMM {entry['gemmGflops']:.1f} GFLOP/s ({entry['description']})")
    return entry


def build(args, name):
    """Runs the torch builder for one case; returns (case entry of the manifest, None) or (None, error)."""
    cmd = [args.torch_python, str(BUILDER), str(args.cache_dir), "--cases", name,
           "--samples", ",".join(map(str, args.samples))] + (["--quick"] if args.quick else [])
    bl.progress(f"build {name} ({'quick' if args.quick else 'full size'}) ...")
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        code, err = proc.returncode, proc.stderr
    except (OSError, subprocess.TimeoutExpired) as e:
        code, err = None, str(e)
    if code != 0:
        return None, f"building the models failed (exit {code}): {bl.tail(err, 1)}"
    manifest = json.loads((Path(args.cache_dir) / "manifest.json").read_text())
    case = manifest["cases"][name]
    case["buildSeconds"] = round(time.perf_counter() - start, 1)
    case["torch"] = manifest.get("torch")
    return case, None


def fuse_command(args, case, samples, work):
    cache = Path(args.cache_dir)
    return java_prefix(args) + [str(cache / m["file"]) for m in case["models"]] + [
        "--data", str(cache / case["data"][str(samples)]), "--seed", "0", "--no-check",
        "--report", str(work / "report.json"), "-o", str(work / "fused.onnx"), "--quiet"] + shlex.split(args.extra_args)


def run_group(cmd, timeout):
    """Like benchlib.run_cli, but in a session of its own, and on a timeout the whole process group is
    killed (/usr/bin/time's java child too, not only the time process)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(bl.REPO),
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        code = None
        err = (err or "") + f"\n(timed out after {timeout:g} s)"
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return code, time.perf_counter() - start, out, err


def error_line(err):
    """The last line of stderr that says something: a stack trace's frames (indented "at ...",
    "... N more") are passed over for the exception's own line."""
    lines = [line for line in err.strip().splitlines() if line.strip()]
    said = [line for line in lines if not line[:1].isspace() and not line.startswith("Caused by")] or lines
    return said[-1].strip() if said else ""


def load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def timed_run(args, case, samples):
    load = load_average()
    with tempfile.TemporaryDirectory(prefix="onnx-fuse-scale-") as tmp:
        work = Path(tmp)
        time_file = work / "time.txt"
        cmd = ["nice", "-n", str(args.nice)] if args.nice else []
        cmd += [TIME, "-f", "%e %M", "-o", str(time_file)] + fuse_command(args, case, samples, work)
        code, wall, out, err = run_group(cmd, args.timeout)
        report = bl.read_report(work / "report.json")
        timed = time_file.read_text().strip().splitlines() if time_file.is_file() else []
    run = {"exitCode": code, "wallSeconds": round(wall, 3), "loadAverageBefore": load, "loadAverageAfter": load_average()}
    last = timed[-1].split() if timed else []
    if len(last) == 2:
        try:
            run["peakRssKiB"] = int(last[1])
        except ValueError:
            pass
    if code != 0:
        run["error"] = error_line(err) or f"exit code {code}"
        run["stderrTail"] = bl.tail(err, 20)
        if code is None:
            run["error"] = f"timed out after {args.timeout:g} s"
    elif report is None:
        run["error"] = "no report written"
    else:
        run["timings"] = report.get("timings")
        run["levels"] = [{"level": lv.get("level"), "op": lv.get("op"), "width": lv.get("width"),
                          "fanIn": lv.get("fanIn"), "rows": lv.get("rows"), "method": lv.get("method"),
                          "timings": lv.get("timings")} for lv in report.get("levels", [])]
    return run


def summarise(entry):
    runs = entry["runs"]
    ok = [r for r in runs if "error" not in r]
    entry["failed"] = len(runs) - len(ok)
    entry["wallSeconds"] = bl.median([r["wallSeconds"] for r in ok])
    entry["peakRssKiB"] = bl.median([r.get("peakRssKiB") for r in ok])
    entry["peakRssKiBFailed"] = max((r["peakRssKiB"] for r in runs if "error" in r and r.get("peakRssKiB")),
                                    default=None)
    entry["stagesMsMedian"] = {st: bl.median([(r.get("timings") or {}).get(st) for r in ok])
                               for st in STAGES if any((r.get("timings") or {}).get(st) is not None for r in ok)}
    levels = []
    for i, lv in enumerate(ok[0]["levels"] if ok else []):
        per = {st: bl.median([(r["levels"][i].get("timings") or {}).get(st) for r in ok if i < len(r["levels"])])
               for st in LEVEL_STAGES}
        levels.append({"level": lv["level"], "op": lv["op"], "fanIn": lv["fanIn"], "rows": lv["rows"],
                       "width": lv["width"], "method": lv["method"], "timingsMsMedian": per})
    entry["levels"] = levels
    entry.pop("error", None)
    if runs and not ok:
        errors = [r["error"] for r in runs if "error" in r]
        entry["error"] = errors[-1] if errors else "no run"


def add_floor(entry, case, rate_gflops):
    entry["caseModels"] = case["models"]
    flops = floor_flops(case, entry["samples"])
    entry["floorFlops"] = flops
    entry["floorFlopsSymmetric"] = floor_flops(case, entry["samples"], symmetric=True)["total"]
    entry["statisticsFlopsSymmetric"] = floor_flops(case, entry["samples"], symmetric=True)["statistics"]
    apply_rate(entry, rate_gflops)


def apply_rate(entry, rate_gflops):
    """Floor seconds and ratios at the GEMM rate; the rates the inference and statistics stages reached."""
    for key in ("floorSeconds", "floorSecondsSymmetric", "ratioToFloor", "ratioToFloorSymmetric"):
        entry.pop(key, None)
    flops = entry["floorFlops"]
    if rate_gflops:
        entry["floorSeconds"] = flops["total"] / (rate_gflops * 1e9)
        entry["floorSecondsSymmetric"] = entry["floorFlopsSymmetric"] / (rate_gflops * 1e9)
        if entry.get("wallSeconds"):
            entry["ratioToFloor"] = entry["wallSeconds"] / entry["floorSeconds"]
            entry["ratioToFloorSymmetric"] = entry["wallSeconds"] / entry["floorSecondsSymmetric"]
    stages = entry.get("stagesMsMedian") or {}
    computed = computed_statistics_flops(entry)
    entry["achievedGflops"] = {
        "inference": flops["forward"] / (stages["inference_ms"] * 1e6) if stages.get("inference_ms") else None,
        "statisticsSymmetric": computed / (stages["statistics_ms"] * 1e6)
        if stages.get("statistics_ms") and computed else None}


def computed_statistics_flops(entry):
    """The statistics FLOPs the run did, counted as diagnose counts them: the symmetric count less
    A^T A's n m (m + 1) on levels grouped in factor or cross form (their statistics keep only its
    diagonal; the report's method says "(factor form)" or "(cross form)"), so that the rate the
    statistics stage reached is not inflated by work it never did."""
    total = entry.get("statisticsFlopsSymmetric")
    case = entry.get("caseModels")
    if not total or not case:
        return total
    for i, level in enumerate(entry.get("levels") or []):
        method = level.get("method") or ""
        if "(factor form)" in method or "(cross form)" in method:
            base = case[0]["levels"][i]
            n = entry["samples"] * base["positions"]
            m = sum(model["levels"][i]["width"] for model in case)
            total -= n * m * (m + 1)
    return total


def best_rate(result):
    """The highest float64 rate this run demonstrably reached: the diagnose GEMM rates and every run's
    statistics stage (counted as diagnose counts it). On a loaded machine a diagnose run can land in
    a busy spell; the floor at this rate is then the firmer one."""
    rates = [d["gemmGflops"] for d in result["diagnose"] if "gemmGflops" in d]
    rates += [(e.get("achievedGflops") or {}).get("statisticsSymmetric") for e in result["runs"]]
    rates = [r for r in rates if r]
    best = max(rates) if rates else None
    result["bestRateGflops"] = best
    for e in result["runs"]:
        e.pop("ratioToFloorAtBestRate", None)
        if best and e.get("wallSeconds") and e.get("floorFlops"):
            e["ratioToFloorAtBestRate"] = e["wallSeconds"] / (e["floorFlops"]["total"] / (best * 1e9))


def scaling(result):
    """Exponents from pairs of medians: in samples (each case, consecutive counts) and in parents
    (cases of one family and sample count, consecutive parent counts)."""
    entries = result["runs"]
    out = []
    by_case = {}
    for e in entries:
        by_case.setdefault(e["case"], []).append(e)
    for name, es in by_case.items():
        es = sorted(es, key=lambda e: e["samples"])
        for a, b in zip(es, es[1:]):
            out.append({"kind": "samples", "case": name, "from": a["samples"], "to": b["samples"],
                        "wall": exponent(a.get("wallSeconds"), b.get("wallSeconds"), a["samples"], b["samples"]),
                        "total": exponent(a["stagesMsMedian"].get("total_ms"), b["stagesMsMedian"].get("total_ms"),
                                          a["samples"], b["samples"])})
    by_family = {}
    for e in entries:
        by_family.setdefault((e["family"], e["samples"]), []).append(e)
    for (family, samples), es in by_family.items():
        es = sorted(es, key=lambda e: e["parents"])
        for a, b in zip(es, es[1:]):
            if a["parents"] == b["parents"]:
                continue
            out.append({"kind": "parents", "case": f"{a['case']} -> {b['case']}", "samples": samples,
                        "from": a["parents"], "to": b["parents"],
                        "wall": exponent(a.get("wallSeconds"), b.get("wallSeconds"), a["parents"], b["parents"]),
                        "total": exponent(a["stagesMsMedian"].get("total_ms"), b["stagesMsMedian"].get("total_ms"),
                                          a["parents"], b["parents"])})
    return out


def targets(result):
    """Each check has `pass` (as issue 11 defines it: the floor at diagnose's rate) and, for the floor
    targets, `passAtBestRate` (the floor at the highest rate the run reached, see best_rate)."""
    checks = []
    for name in TARGET_RATIO_CASES:
        e = next((e for e in result["runs"] if e["case"] == name and e["samples"] == TARGET_RATIO_SAMPLES), None)
        ratio = e.get("ratioToFloor") if e else None
        best = e.get("ratioToFloorAtBestRate") if e else None
        measured = None if ratio is None else f"{ratio:.2f}x ({e['wallSeconds']:.1f} s / {e['floorSeconds']:.1f} s)" + (
            f"; {best:.2f}x at the best rate" if best else "")
        failed = bool(e and e["runs"] and e.get("error"))
        if failed:
            measured = "failed: " + e["error"].strip().replace("|", "\\|")
        checks.append({"target": f"{name}, {TARGET_RATIO_SAMPLES} samples: whole command within {TARGET_RATIO:g}x"
                                 " of the floor", "measured": measured,
                       "pass": (ratio <= TARGET_RATIO) if ratio is not None else (False if failed else None),
                       "passAtBestRate": (best <= TARGET_RATIO) if best is not None else (False if failed else None)})
    for kind, word in (("samples", "linear in samples"), ("parents", "at most linear in parents")):
        pairs = [s for s in result["scaling"] if s["kind"] == kind and s["wall"] is not None]
        worst = max(pairs, key=lambda s: s["wall"]) if pairs else None
        checks.append({"target": f"time {word} (wall exponent <= {LINEAR_EXPONENT:g} for every pair)",
                       "measured": None if worst is None else
                       f"highest {worst['wall']:.2f} ({worst['case']}, {worst['from']} -> {worst['to']})",
                       "pass": None if worst is None else worst["wall"] <= LINEAR_EXPONENT})
    return checks


# ---------------------------------------------------------------- Markdown

def fmt(x, spec=".2f", empty=""):
    return empty if x is None else format(x, spec)


def mib(kib):
    return None if kib is None else kib / 1024


def loads(entry):
    """The 1-minute load average before and after each run: "before-after", runs separated by commas."""
    return ", ".join(f"{r['loadAverageBefore'][0]:.1f}-{r['loadAverageAfter'][0]:.1f}" for r in entry["runs"]
                     if r.get("loadAverageBefore") and r.get("loadAverageAfter"))


def markdown(result):
    env = result["environment"]
    rate = result.get("gemmGflops")
    lines = ["# Scale: large parents against a measured floor (onnx-fuse, CPU backend)", "",
             bl.environment_markdown(env),
             f"- parents: built by `bench/scale_models.py` with torch {result.get('torch') or '?'}, weights at random"
             " (PyTorch's default initialisation, one seed per parent; untrained, so no two parents are alike but"
             " none has learnt anything: the figures are times, not accuracies); calibration data: synthetic"
             " float32 images (smooth random colour fields plus noise)"
             + ("; **--quick: widths divided by 16**" if result["quick"] else ""),
             f"- command: `onnx-fuse P0 P1 ... --data calib_N.npy --seed 0 --no-check --report ... -o ... --quiet"
             f"{(' ' + result['extraArgs']) if result['extraArgs'] else ''}` (kf-linear, default importance"
             f" deeplift, default threads), java `-Xmx{result['xmx']}`, niced; {result['repeats']} run(s) per case and"
             " sample count, interleaved; medians",
             "- GEMM rate: `onnx-fuse diagnose --bench --json` (float64 2048^3, default threads), before and after the"
             " runs: " + ", ".join(f"{d['when']} " + (f"{d['gemmGflops']:.1f}" if "gemmGflops" in d else "failed")
                                   for d in result["diagnose"])
             + (f" GFLOP/s; the floor uses {fmt(rate, '.1f', 'none')} GFLOP/s (the higher)" if not result.get("gemmGflopsGiven")
                else f" GFLOP/s; the floor uses **{rate:g} GFLOP/s, given by --gemm-gflops**")
             + (" (--quick: `--bench-size small`, a 96^3 product: the floors mean little)" if result["quick"] else ""),
             "- floor = (one forward pass of every parent and of the fused model + the statistics GEMMs of every level:"
             " 2 n d^2 + 2 n d m + 2 n m^2, n = samples x positions, d = fan-in + 1, m = all parents' neurons) /"
             " GEMM rate; `ratio` = whole-command wall / floor; `ratio sym` counts X^T X and A^T A as symmetric"
             " products (n d (d+1), n m (m+1), as diagnose counts them), a floor about half as high on the"
             " statistics; `ratio at best rate`: the floor at the highest float64 rate this run reached, the diagnose"
             f" runs' or any statistics stage's (counted as diagnose counts it): {fmt(result.get('bestRateGflops'), '.1f')}"
             " GFLOP/s", "",
             "| case | parents | samples | wall (s) | floor (s) | ratio | ratio sym | ratio at best rate | forward GFLOP"
             " | statistics GFLOP"
             " | peak RSS (MiB) | load (1 min) | exit |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in result["runs"]:
        exit_text = "0" if not e["failed"] else "; ".join(sorted({
            ("timeout" if r["exitCode"] is None else str(r["exitCode"])) + ": " + r["error"].strip().replace("|", "\\|")
            for r in e["runs"] if "error" in r}))
        rss = fmt(mib(e.get("peakRssKiB")), ".0f")
        if not rss and e.get("peakRssKiBFailed"):
            rss = f"{mib(e['peakRssKiBFailed']):.0f} (failed run)"
        if e["failed"] and e["failed"] < len(e["runs"]):
            exit_text = f"{e['failed']} of {len(e['runs'])} failed: " + exit_text
        if not e["runs"]:
            exit_text = "not run"
        ff = e.get("floorFlops") or {}
        lines.append(f"| {e['case']} | {e['parents']} | {e['samples']} |"
                     f" {fmt(e.get('wallSeconds'), '.1f', 'failed' if e['runs'] else '')} |"
                     f" {fmt(e.get('floorSeconds'), '.1f')} | {fmt(e.get('ratioToFloor'))} |"
                     f" {fmt(e.get('ratioToFloorSymmetric'))} | {fmt(e.get('ratioToFloorAtBestRate'))} |"
                     f" {fmt(ff.get('forward') and ff['forward'] / 1e9, '.1f')} |"
                     f" {fmt(ff.get('statistics') and ff['statistics'] / 1e9, '.1f')} |"
                     f" {rss} | {loads(e)} | {exit_text} |")
    notes = result.get("notes") or []
    for e in result.get("buildFailures", []):
        lines.append(f"| {e['case']} | | | not built | | | | | | | | | {e['error']} |")
    if notes:
        lines += [""] + [f"Note: {n}" for n in notes]
    stages = [st for st in STAGES if any(st in e["stagesMsMedian"] for e in result["runs"])]
    if stages:
        lines += ["", "Stages (s, medians of the report's `timings`; fuse spans importance to building the model;"
                      " wall minus total is mostly JVM start; the last two columns: the forward FLOPs of the floor over the"
                      " inference stage, the statistics FLOPs counted as diagnose counts them over the statistics stage,"
                      " to set beside the GEMM rate):", "",
                  "| case | samples | " + " | ".join(st[:-3] for st in stages)
                  + " | wall | inference GFLOP/s | statistics GFLOP/s (sym) |",
                  "|---|---|" + "---|" * (len(stages) + 3)]
        for e in result["runs"]:
            if not e["stagesMsMedian"]:
                continue
            cells = [fmt(None if e["stagesMsMedian"].get(st) is None else e["stagesMsMedian"][st] / 1000, ".1f")
                     for st in stages]
            achieved = e.get("achievedGflops") or {}
            lines.append(f"| {e['case']} | {e['samples']} | " + " | ".join(cells)
                         + f" | {fmt(e.get('wallSeconds'), '.1f')} | {fmt(achieved.get('inference'), '.1f')} |"
                         f" {fmt(achieved.get('statisticsSymmetric'), '.1f')} |")
    if result["scaling"]:
        lines += ["", "Scaling exponents log(t2/t1) / log(n2/n1) of the medians (wall: whole command; total: the"
                      " report's total_ms, without JVM start); 1 = linear:", "",
                  "| in | case | from -> to | wall | total |", "|---|---|---|---|---|"]
        for s in result["scaling"]:
            where = s["case"] + (f", {s['samples']} samples" if s["kind"] == "parents" else "")
            lines.append(f"| {s['kind']} | {where} | {s['from']} -> {s['to']} | {fmt(s['wall'])} | {fmt(s['total'])} |")
    per_case = {}
    for e in result["runs"]:
        if e["levels"] and (e["case"] not in per_case or e["samples"] > per_case[e["case"]]["samples"]):
            per_case[e["case"]] = e
    for name, e in per_case.items():
        stats_levels = (e.get("floorFlops") or {}).get("levels") or []
        lines += ["", f"Per level, {name}, {e['samples']} samples (s, medians; floor: that level's statistics GEMMs"
                      " at the GEMM rate):", "",
                  "| level | op | fan-in | rows | width | inference | statistics | grouping | solve | statistics floor |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for i, lv in enumerate(e["levels"]):
            t = lv["timingsMsMedian"]
            sfloor = stats_levels[i] / (rate * 1e9) if rate and i < len(stats_levels) else None
            lines.append(f"| {lv['level']} | {lv['op']} | {lv['fanIn']} | {lv['rows']} | {lv['width']} | "
                         + " | ".join(fmt(None if t.get(st) is None else t[st] / 1000, ".2f") for st in LEVEL_STAGES)
                         + f" | {fmt(sfloor, '.2f')} |")
    lines += ["", "## Targets (issue 11)", "", "Result: the floor at diagnose's rate, as issue 11 defines it; at best rate:"
                  " the floor at the highest rate the run reached (above).", "",
              "| target | measured | result | at best rate |", "|---|---|---|---|"]

    def verdict(v):
        return "not measured" if v is None else ("pass" if v else "FAIL")

    for c in result["targets"]:
        lines.append(f"| {c['target']} | {c['measured'] or ''} | {verdict(c['pass'])} |"
                     f" {verdict(c['passAtBestRate']) if 'passAtBestRate' in c else ''} |")
    lines += ["", "One shared 2-core machine whose load varies (load average at the start above); compare figures"
                  " from one run of this script only. Raw figures: `" + result["stem"] + ".json.gz`.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- main

def finish(args, result, built, quiet=False):
    """Summaries, floors, exponents and targets of the runs so far; writes the result files."""
    rates = [d["gemmGflops"] for d in result["diagnose"] if "gemmGflops" in d]
    result["gemmGflops"] = max(rates) if rates else None
    result["gemmGflopsGiven"] = args.gemm_gflops
    if args.gemm_gflops:
        result["gemmGflops"] = args.gemm_gflops
    for entry in result["runs"]:
        summarise(entry)
        add_floor(entry, built[entry["case"]], result["gemmGflops"])
        entry["models"] = [{"file": m["file"], "forwardFlops": m["forwardFlops"]}
                           for m in built[entry["case"]]["models"]]
    best_rate(result)
    result["scaling"] = scaling(result)
    result["targets"] = targets(result)
    bl.write_results(args.out_dir, args.stem, result, markdown(result), quiet=quiet)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bl.add_common_options(parser)
    parser.set_defaults(timeout=3600)
    parser.add_argument("--cases", type=bl.csv_strings, default=DEFAULT_CASES,
                        help="cases in run order (default: %(default)s; known: " + ", ".join(CASES) + ")")
    parser.add_argument("--samples", type=bl.csv_ints, default=[400, 2000],
                        help="calibration sample counts (default 400,2000)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per case and sample count (default 1)")
    parser.add_argument("--xmx", default="8g", help="java -Xmx (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="widths divided by 16: a smoke test in seconds")
    parser.add_argument("--torch-python", default="/usr/bin/python3",
                        help="a Python with torch (and torchvision for alexnet) for the builder (default: %(default)s)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where the models and data are built (default: bench/.cache/scale, or scale-quick)")
    parser.add_argument("--nice", type=int, default=10, help="nice level of the fusion runs (0: none; default 10)")
    parser.add_argument("--stem", default=None, help="result file name (default: scale, or scale_quick)")
    parser.add_argument("--render", type=Path, help="only rewrite the Markdown table from this results JSON"
                                                        " (with --gemm-gflops: the floors at that rate)")
    parser.add_argument("--gemm-gflops", type=float, default=None,
                        help="GEMM rate for the floors instead of the diagnose runs' (still run and recorded)")
    parser.add_argument("--note", action="append", default=[],
                        help="with --render: a note to print under the table (kept in the JSON), e.g. why a run failed")
    args = parser.parse_args(argv)
    if args.render:
        result = bl.read_results(args.render)
        rates = [d["gemmGflops"] for d in result["diagnose"] if "gemmGflops" in d]
        result["gemmGflops"] = args.gemm_gflops or (max(rates) if rates else None)
        result["gemmGflopsGiven"] = args.gemm_gflops
        result["notes"] = (result.get("notes") or []) + args.note
        cache = args.cache_dir or DEFAULT_CACHE.with_name("scale-quick" if result.get("quick") else "scale")
        try:
            cases = json.loads((Path(cache) / "manifest.json").read_text())["cases"]
        except (OSError, ValueError, KeyError):
            cases = {}
        for entry in result["runs"]:
            summarise(entry)
            if entry["case"] in cases:  # the counts again from the models' shapes (fields added since)
                add_floor(entry, cases[entry["case"]], result["gemmGflops"])
            elif entry.get("floorFlops"):
                entry.setdefault("statisticsFlopsSymmetric", None)
                apply_rate(entry, result["gemmGflops"])
        best_rate(result)
        result["scaling"] = scaling(result)
        result["targets"] = targets(result)
        base = str(args.render)
        base = base[:-len(".gz")] if base.endswith(".gz") else base
        base = Path(base[:-len(".json")] if base.endswith(".json") else base)
        if args.gemm_gflops or args.note:
            bl.write_results(base.parent, base.name, result, markdown(result), quiet=True)
        else:
            base.with_name(base.name + ".md").write_text(markdown(result), encoding="utf-8")
        return 0
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    if args.cache_dir is None:
        args.cache_dir = DEFAULT_CACHE.with_name("scale-quick" if args.quick else "scale")
    if args.stem is None:
        args.stem = "scale_quick" if args.quick else "scale"
    bl.check_cli(args)
    if not Path(TIME).is_file():
        sys.exit(f"{TIME} not found (Debian: apt-get install time)")
    env = bl.environment(args)
    env["cli"] = " ".join(java_prefix(args))
    result = {"benchmark": "scale", "environment": env, "quick": args.quick, "repeats": args.repeats,
              "xmx": args.xmx, "extraArgs": args.extra_args, "stem": args.stem, "cases": args.cases,
              "samples": args.samples, "diagnose": [diagnose(args, "before")], "runs": [], "buildFailures": []}
    built = {}
    # a case is built right before its first run (alexnet's export takes a while); the results so far
    # are written after every run, so that an interrupted benchmark leaves its figures
    for rep in range(args.repeats):
        for name in args.cases:
            if rep == 0:
                case, error = build(args, name)
                if error:
                    bl.progress("  " + error)
                    result["buildFailures"].append({"case": name, "error": error})
                    continue
                built[name] = case
                result["torch"] = case.get("torch")
                for n in args.samples:
                    result["runs"].append({"case": name, "family": case["family"], "parents": case["parents"],
                                           "samples": n, "buildSeconds": case["buildSeconds"], "runs": []})
            for entry in [e for e in result["runs"] if e["case"] == name]:
                bl.progress(f"run {rep + 1}/{args.repeats}: {name}, {entry['samples']} samples ...")
                run = timed_run(args, built[name], entry["samples"])
                bl.progress("  " + (("failed: " + run["error"]) if "error" in run
                                    else f"{run['wallSeconds']:.1f} s, peak RSS {run.get('peakRssKiB', 0) // 1024} MiB"))
                entry["runs"].append(run)
                finish(args, result, built, quiet=True)
    result["diagnose"].append(diagnose(args, "after"))
    finish(args, result, built)
    failed = result["buildFailures"] or any(e["failed"] for e in result["runs"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
