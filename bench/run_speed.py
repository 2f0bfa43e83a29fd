#!/usr/bin/env python3
"""Speed and memory benchmark (docs/BENCHMARKS.md, "Speed and memory"), one command:

    python3 bench/run_speed.py

1. Whole-command wall time (JVM start included) and peak RSS (`/usr/bin/time -f '%e %M'`) of
   fusion by every method (kf-linear, hf-linear for 2 parents only, average, weight-match,
   act-match) for 2/4/8 MLP parents with 400 and 5000 calibration samples, 5 runs each (settings
   and methods interleaved, so a busy spell hits all of them alike): median, min, max; and the
   per-stage times from the CLI's JSON report (`timings`), medians. The baselines report only
   read/fuse/write/total.
2. Peak memory (kf-linear) with 50,000 calibration samples (calib5000_x.npy replicated 10 times, written to a
   temporary folder) against 5,000, 2 parents, runs alternated.
3. `onnx-fuse diagnose --bench --json --device cpu --threads N`: statistics accumulation rate
   against the GEMM rate of the same backend in the same process.

Writes bench/results/speed.json.gz (raw) and bench/results/speed.md (tables, reference times from
BENCHMARKS.md, targets with pass/fail; the time targets judge kf-linear).
"""

import argparse
import json
import re
import shlex
import sys
import tempfile
from pathlib import Path

import benchlib as bl

TIME = "/usr/bin/time"
# BENCHMARKS.md: the reference implementation (PyTorch, same machine kind, 2 threads), KF-linear.
REFERENCE_SECONDS = {(2, 400): 50, (4, 400): 55, (8, 400): 107, (2, 5000): 158, (4, 5000): 395, (8, 5000): 1111}
SETTINGS = [(2, 400), (4, 400), (8, 400), (2, 5000), (4, 5000), (8, 5000)]
# "kf-linear" runs with the default (deeplift) importance, "kf-linear:uniform" as the reference was timed
METHODS = ["kf-linear", "kf-linear:uniform", "hf-linear", "average", "weight-match", "act-match"]
K2_ONLY = {"hf-linear"}
JUDGED_METHOD = "kf-linear"
# The report's `timings`, in table order: fuse_ms spans everything between read and write (for the
# neuron-interpolation methods: inference, statistics, grouping, solve and building the model).
STAGES = ["read_ms", "importance_ms", "inference_ms", "statistics_ms", "grouping_ms", "solve_ms", "fuse_ms", "write_ms",
          "evaluate_ms", "total_ms"]
TARGET_2_400_S = 3.0
TARGET_8_5000_S = 10.0
TARGET_MEMORY_GROWTH = 0.10
TARGET_STATISTICS_RATIO = 0.5


def replicate_npy(src, dst, times):
    """Writes `src` (.npy, version 1-3, C order) `times` times over along axis 0, with the standard
    library only: the header is copied with its shape's first dimension patched and its length kept
    (the padding spaces absorb the extra digits), then the data is appended `times` times."""
    raw = Path(src).read_bytes()
    if raw[:6] != b"\x93NUMPY":
        raise ValueError(f"{src} is not a .npy file")
    major = raw[6]
    if major == 1:
        header_len, start = int.from_bytes(raw[8:10], "little"), 10
    else:
        header_len, start = int.from_bytes(raw[8:12], "little"), 12
    end = start + header_len
    header = raw[start:end].decode("latin1")
    match = re.search(r"'shape':\s*\((\d+),", header)
    if not match or "'fortran_order': False" not in header:
        raise ValueError(f"{src}: expected a C-order array with a shape, found header {header!r}")
    rows = int(match.group(1))
    patched = header[:match.start(1)] + str(rows * times) + header[match.end(1):]
    body = patched.rstrip("\n").rstrip(" ")
    if len(body) + 1 > header_len:
        raise ValueError(f"{src}: no padding left in the header for the new shape")
    patched = body + " " * (header_len - len(body) - 1) + "\n"
    data = raw[end:]
    with open(dst, "wb") as out:
        out.write(raw[:start])
        out.write(patched.encode("latin1"))
        for _ in range(times):
            out.write(data)
    return rows * times


def runs_for(method, k):
    """hf-linear fuses two parents only."""
    return k == 2 or method not in K2_ONLY


def fuse_command(args, k, data_file, work, method="kf-linear"):
    return bl.cli_prefix(args) + [str(p) for p in bl.parents(k)] + [
        "--data", str(data_file), *bl.method_options(method), "--seed", "0",
        "--report", str(work / "report.json"), "-o", str(work / "fused.onnx"), "--quiet"] + shlex.split(args.extra_args)


def timed_run(args, k, data_file, method="kf-linear"):
    """One fusion under /usr/bin/time: wall seconds (measured here), peak RSS, the report's timings."""
    with tempfile.TemporaryDirectory(prefix="onnx-fuse-speed-") as tmp:
        work = Path(tmp)
        time_file = work / "time.txt"
        cmd = [TIME, "-f", "%e %M", "-o", str(time_file)] + fuse_command(args, k, data_file, work, method)
        code, wall, out, err = bl.run_cli(cmd, args.timeout)
        report = bl.read_report(work / "report.json")
        timed = time_file.read_text().strip().splitlines() if time_file.is_file() else []
    run = {"exitCode": code, "wallSeconds": round(wall, 3)}
    last = timed[-1].split() if timed else []
    if len(last) == 2:
        run["timeElapsedSeconds"] = float(last[0])
        run["peakRssKiB"] = int(last[1])
    if code != 0:
        run["error"] = bl.tail(err) or f"exit code {code}"
    elif report is not None:
        run["timings"] = report.get("timings")
    else:
        run["error"] = "no report written"
    return run


def summarise(runs):
    ok = [r for r in runs if "error" not in r]
    walls = [r["wallSeconds"] for r in ok]
    rss = [r.get("peakRssKiB") for r in ok]
    stages = {}
    present = {key for r in ok for key in (r.get("timings") or {})}
    for stage in STAGES + sorted(present - set(STAGES)):
        values = [r["timings"].get(stage) for r in ok if r.get("timings")]
        if any(v is not None for v in values):
            stages[stage] = bl.median(values)
    return {"runs": len(runs), "failed": len(runs) - len(ok),
            "wallSeconds": {"median": bl.median(walls), "min": min(walls) if walls else None,
                            "max": max(walls) if walls else None},
            "peakRssKiB": {"median": bl.median(rss), "min": min((v for v in rss if v), default=None),
                           "max": max((v for v in rss if v), default=None)},
            "stagesMsMedian": stages}


def speed_section(args):
    """{method: {"K/N": entry}}; per repeat every setting and, within it, every method runs once."""
    results = {m: {f"{k}/{n}": {"K": k, "samples": n, "method": m,
                                "referenceSeconds": REFERENCE_SECONDS.get((k, n)) if m == JUDGED_METHOD else None,
                                "runs": []}
                   for k, n in args.settings if runs_for(m, k)}
               for m in args.methods}
    for rep in range(args.repeats):
        for k, n in args.settings:
            for m in args.methods:
                if not runs_for(m, k):
                    continue
                bl.progress(f"speed: run {rep + 1}/{args.repeats}, {m}, {k} parents / {n} samples ...")
                run = timed_run(args, k, bl.DATA / f"calib{n}_x.npy", m)
                bl.progress("  " + (("failed: " + run["error"].replace("\n", " / ")) if "error" in run
                                    else f"{run['wallSeconds']} s, peak RSS {run.get('peakRssKiB', 0) // 1024} MiB"))
                results[m][f"{k}/{n}"]["runs"].append(run)
    for by_setting in results.values():
        for entry in by_setting.values():
            entry["summary"] = summarise(entry["runs"])
    return results


def speed_entries(result):
    """(setting key, method, entry) in table order: settings as run, methods as given."""
    speed = result.get("speed", {})
    keys = []
    for by_setting in speed.values():
        keys += [key for key in by_setting if key not in keys]
    return [(key, m, speed[m][key]) for key in keys for m in speed if key in speed[m]]


def memory_section(args):
    with tempfile.TemporaryDirectory(prefix="onnx-fuse-50k-") as tmp:
        big = Path(tmp) / "calib50000_x.npy"
        samples = replicate_npy(bl.DATA / "calib5000_x.npy", big, 10)
        files = {5000: bl.DATA / "calib5000_x.npy", samples: big}
        runs = {n: [] for n in files}
        for rep in range(args.memory_repeats):
            for n, f in files.items():
                bl.progress(f"memory: run {rep + 1}/{args.memory_repeats}, {args.memory_parents} parents / {n}"
                            f" samples ...")
                run = timed_run(args, args.memory_parents, f)
                bl.progress("  " + (("failed: " + run["error"].replace("\n", " / ")) if "error" in run
                                    else f"{run['wallSeconds']} s, peak RSS {run.get('peakRssKiB', 0) // 1024} MiB"))
                runs[n].append(run)
    section = {"K": args.memory_parents, "method": "kf-linear",
               "bySamples": {str(n): {"runs": r, "summary": summarise(r)} for n, r in runs.items()}}
    small = section["bySamples"]["5000"]["summary"]["peakRssKiB"]["median"]
    large = section["bySamples"][str(samples)]["summary"]["peakRssKiB"]["median"]
    section["growth"] = (large - small) / small if small and large else None
    return section


def diagnose_section(args):
    out = []
    for threads in args.diagnose_threads:
        bl.progress(f"diagnose --bench --threads {threads} ...")
        cmd = bl.cli_prefix(args) + ["diagnose", "--bench", "--json", "--device", "cpu", "--threads", str(threads)]
        code, wall, stdout, stderr = bl.run_cli(cmd, args.timeout)
        entry = {"threads": threads, "exitCode": code, "wallSeconds": round(wall, 3)}
        try:
            report = json.loads(stdout) if code == 0 else None
        except ValueError:
            report = None
        if report is None or "bench" not in report:
            entry["error"] = bl.tail(stderr) or bl.tail(stdout) or f"exit code {code}"
        else:
            bench = report["bench"]
            entry["bench"] = bench
            ratios = [s.get("ratioToGemm") for s in bench.get("statistics", [])]
            entry["minRatioToGemm"] = min(ratios) if ratios else None
        out.append(entry)
    return out


def fmt(x, spec=".2f", empty=""):
    return empty if x is None else format(x, spec)


def mib(kib):
    return None if kib is None else kib / 1024


def targets(result):
    checks = []
    speed = result.get("speed", {})

    def wall(key):
        entry = speed.get(JUDGED_METHOD, {}).get(key)
        return entry["summary"]["wallSeconds"]["median"] if entry else None

    w = wall("2/400")
    checks.append({"target": f"2 parents / 400 samples under {TARGET_2_400_S:g} s ({JUDGED_METHOD}, median wall)",
                   "measured": None if w is None else f"{w:.2f} s", "pass": None if w is None else w < TARGET_2_400_S})
    w = wall("8/5000")
    checks.append({"target": f"8 parents / 5000 samples under {TARGET_8_5000_S:g} s ({JUDGED_METHOD}, median"
                             " wall)",
                   "measured": None if w is None else f"{w:.2f} s", "pass": None if w is None else w < TARGET_8_5000_S})
    growth = result.get("memory", {}).get("growth")
    checks.append({"target": "peak memory with 50,000 samples within 10% of 5,000",
                   "measured": None if growth is None else f"{100 * growth:+.1f} %",
                   "pass": None if growth is None else growth <= TARGET_MEMORY_GROWTH})
    diag = [d for d in result.get("diagnose", []) if d.get("minRatioToGemm") is not None]
    if diag:
        d = diag[0]
        checks.append({"target": f"statistics >= 50% of the GEMM rate (cpu, {d['threads']} threads, every level"
                                 " shape)",
                       "measured": f"{100 * d['minRatioToGemm']:.0f} % (lowest)",
                       "pass": d["minRatioToGemm"] >= TARGET_STATISTICS_RATIO})
    else:
        checks.append({"target": "statistics >= 50% of the GEMM rate", "measured": None, "pass": None})
    return checks


def stage_columns(entries):
    """The report stages any run had, in STAGES order (unknown ones before total)."""
    present = {st for _, _, e in entries for st in e["summary"]["stagesMsMedian"]}
    known = [st for st in STAGES if st in present and st != "total_ms"]
    return known + sorted(present - set(STAGES)) + (["total_ms"] if "total_ms" in present else [])


def markdown(result):
    entries = speed_entries(result)
    methods = list(result.get("speed", {}))
    lines = ["# Speed and memory (onnx-fuse, CPU backend)", "", bl.environment_markdown(result["environment"]),
             f"- methods: {', '.join(methods) or 'none'}"
             + (" (hf-linear: 2 parents only)" if "hf-linear" in methods else "")
             + "; `kf-linear` with its default importance (deeplift), `kf-linear:uniform` with uniform importance"
             " (as the reference was timed), `--seed 0`, default threads; MLP 784-256-10 parents"
             f" (file order), calibration `calib{{N}}_x.npy`, no evaluation set"
             + (f"; extra options `{result['extraArgs']}`" if result["extraArgs"] else ""), ""]
    if entries:
        keys = list(dict.fromkeys(key for key, _, _ in entries))
        ref = {key: e["referenceSeconds"] for key, m, e in entries if m == JUDGED_METHOD}
        lines += [f"Whole command (JVM start included), median of {result['repeats']} runs per setting and method,"
                  " settings and methods interleaved; seconds. Reference: the PyTorch implementation of"
                  " KF-linear on the same machine kind, 2 threads (BENCHMARKS.md).", "",
                  "| parents / samples | reference kf-linear | " + " | ".join(methods) + " |",
                  "|---|---|" + "---|" * len(methods)]
        for key in keys:
            cells = []
            for m in methods:
                e = result["speed"][m].get(key)
                if e is None:
                    cells.append("n/a")
                    continue
                s = e["summary"]
                failed = f" ({s['failed']} failed)" if s["failed"] else ""
                cells.append(fmt(s["wallSeconds"]["median"]) + failed)
            lines.append(f"| {key} | {fmt(ref.get(key), 'g')} | " + " | ".join(cells) + " |")
        lines += ["", "Each setting and method: wall time (s) over the runs, peak RSS (`/usr/bin/time` %M):", "",
                  "| parents / samples | method | median (s) | min (s) | max (s) | speed-up vs reference |"
                  " peak RSS median (MiB) |",
                  "|---|---|---|---|---|---|---|"]
        for key, m, entry in entries:
            s = entry["summary"]
            med = s["wallSeconds"]["median"]
            r = entry["referenceSeconds"]
            speedup = f"{r / med:.0f}x" if med and r else ""
            failed = f" ({s['failed']} failed)" if s["failed"] else ""
            lines.append(f"| {key} | {m}{failed} | {fmt(med)} | {fmt(s['wallSeconds']['min'])} |"
                         f" {fmt(s['wallSeconds']['max'])} | {speedup} |"
                         f" {fmt(mib(s['peakRssKiB']['median']), '.0f')} |")
        stages = stage_columns(entries)
        lines += ["", "Per stage (ms, medians, from the report's `timings`; fuse spans everything between read and"
                      " write, for the neuron-interpolation methods importance scoring, inference, statistics, grouping, solve and"
                      " building the model; the baselines report only read/fuse/write/total; wall minus total is"
                      " mostly JVM start):", "",
                  "| parents / samples | method | " + " | ".join(st[:-3] if st.endswith("_ms") else st
                                                              for st in stages) + " | wall |",
                  "|---|---|" + "---|" * (len(stages) + 1)]
        for key, m, entry in entries:
            s = entry["summary"]
            cells = [fmt(s["stagesMsMedian"].get(st), ".0f") for st in stages]
            wall = s["wallSeconds"]["median"]
            lines.append(f"| {key} | {m} | " + " | ".join(cells)
                         + f" | {fmt(None if wall is None else 1000 * wall, '.0f')} |")
    mem = result.get("memory")
    if mem:
        lines += ["", f"Peak memory, {mem['K']} parents, kf-linear, runs alternated (50,000 = calib5000 replicated"
                      " 10 times):", "",
                  "| samples | peak RSS median (MiB) | each run (MiB) | wall median (s) |", "|---|---|---|---|"]
        for n, entry in mem["bySamples"].items():
            s = entry["summary"]
            each = ", ".join(fmt(mib(r.get("peakRssKiB")), ".0f") for r in entry["runs"])
            lines.append(f"| {n} | {fmt(mib(s['peakRssKiB']['median']), '.0f')} | {each} |"
                         f" {fmt(s['wallSeconds']['median'])} |")
        lines.append(f"\nGrowth 5,000 -> 50,000: {fmt(None if mem['growth'] is None else 100 * mem['growth'], '+.1f')} %")
    diag = result.get("diagnose")
    if diag:
        lines += ["", "`onnx-fuse diagnose --bench --device cpu` (float64, median of 5 after a warm-up, one process):",
                  "", "| threads | GEMM | statistics (shape) | statistics GFLOP/s | ratio to GEMM |", "|---|---|---|---|---|"]
        for d in diag:
            if "error" in d:
                lines.append(f"| {d['threads']} | error: {d['error'].splitlines()[-1] if d['error'] else ''} | | | |")
                continue
            g = d["bench"]["gemm"]
            gemm = f"{g['m']}x{g['n']}x{g['k']}: {g['gflops']:.1f} GFLOP/s"
            for s in d["bench"]["statistics"]:
                lines.append(f"| {d['threads']} | {gemm} | d={s['d']}, m={s['m']}, M={s['rows']}, batches of"
                             f" {s['batchRows']} | {s['gflops']:.1f} | {s['ratioToGemm']:.2f} |")
    lines += ["", "## Targets (BENCHMARKS.md)", "", "| target | measured | result |", "|---|---|---|"]
    for c in result["targets"]:
        verdict = "not measured" if c["pass"] is None else ("pass" if c["pass"] else "FAIL")
        lines.append(f"| {c['target']} | {c['measured'] or ''} | {verdict} |")
    lines += ["", "Times are medians on a shared 2-core machine; compare figures from one run of this script only."
              " Raw figures: `speed.json.gz`.", ""]
    return "\n".join(lines)


def settings_arg(text):
    out = []
    for item in text.split(","):
        k, n = item.split("/")
        out.append((int(k), int(n)))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bl.add_common_options(parser)
    parser.add_argument("--settings", type=settings_arg, default=SETTINGS,
                        help="parents/samples list (default 2/400,4/400,8/400,2/5000,4/5000,8/5000)")
    parser.add_argument("--methods", type=bl.csv_strings, default=METHODS,
                        help="methods to time (default: " + ",".join(METHODS) + "; hf-linear runs for 2 parents"
                             " only; the time targets judge " + JUDGED_METHOD + ")")
    parser.add_argument("--repeats", type=int, default=5, help="runs per setting and method (default 5)")
    parser.add_argument("--stem", default="speed", help="result file name (default: %(default)s)")
    parser.add_argument("--memory-repeats", type=int, default=3, help="runs per sample count (default 3)")
    parser.add_argument("--memory-parents", type=int, default=2, help="parents for the memory test (default 2)")
    parser.add_argument("--diagnose-threads", type=bl.csv_ints, default=[2, 1],
                        help="thread counts for diagnose --bench; the first is judged (default 2,1)")
    parser.add_argument("--skip", type=bl.csv_strings, default=[],
                        help="sections to skip: speed, memory, diagnose")
    args = parser.parse_args(argv)
    bl.check_cli(args)
    if not Path(TIME).is_file():
        sys.exit(f"{TIME} not found (Debian: apt-get install time)")
    result = {"benchmark": "speed", "environment": bl.environment(args), "repeats": args.repeats,
              "methods": args.methods, "extraArgs": args.extra_args}
    if "speed" not in args.skip:
        result["speed"] = speed_section(args)
    if "memory" not in args.skip:
        result["memory"] = memory_section(args)
    if "diagnose" not in args.skip:
        result["diagnose"] = diagnose_section(args)
    result["targets"] = targets(result)
    bl.write_results(args.out_dir, args.stem, result, markdown(result))
    failed = any("error" in r for _, _, e in speed_entries(result) for r in e["runs"])
    failed |= any("error" in d for d in result.get("diagnose", []))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
