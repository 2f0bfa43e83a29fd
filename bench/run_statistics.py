#!/usr/bin/env python3
"""Statistics stage against the GEMM floor, per level, for several builds or settings (issue 11,
item 3). Runs each variant on one case of bench/run_scale.py's cache, interleaved, --repeats
times, and prints per-level medians of the report's statistics time, the level's statistics
FLOPs (as `diagnose --bench` counts them: n d (d+1) + 2 n d m + n m (m+1), n rows, d fan-in with
the bias column, m all parents' neurons), the rate and the ratio to the floor (FLOPs / the float64
GEMM rate of `diagnose --bench`, measured before and after; the higher is used).

    python3 bench/run_statistics.py [--stage grouping] [--cli-args "--grouping-form factor"] --case bench/.cache/scale/vgg11-k2 \\
        --data bench/.cache/scale/data/calib_3x32x32_400.npy \\
        --variant before=/tmp/before.jar --variant after=fusion/target/onnx-fuse.jar \\
        --variant after-f32=fusion/target/onnx-fuse.jar:-Donnxfuse.cpu.statistics=float32 --repeats 3

Build the case first: /usr/bin/python3 bench/scale_models.py bench/.cache/scale --cases vgg11-k2
--samples 400. Importance is `uniform` (the statistics do not depend on it, and deeplift's
passes would double each run). Writes --json (raw figures) when given. Standard library only.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def gemm_rate(jar, java):
    out = subprocess.run([java, "-jar", jar, "diagnose", "--bench", "--json"], capture_output=True, text=True)
    return json.loads(out.stdout)["bench"]["gemm"]["gflops"]


def run(java, jar, jvm_args, parents, data, xmx, extra_args=()):
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        cmd = [java, "-Xmx" + xmx] + jvm_args + ["-jar", jar] + parents + [
            "--data", data, "--seed", "0", "--no-check", "--importance", "uniform", "--report", report,
            "-o", os.path.join(tmp, "fused.onnx"), "--quiet"] + list(extra_args)
        t = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.time() - t
        if proc.returncode != 0:
            raise SystemExit("failed: " + " ".join(cmd) + "\n" + proc.stderr[-2000:])
        with open(report) as f:
            r = json.load(f)
    # lines the JVM switch -Donnxfuse.kmeans.counts=true prints, one per factor-form grouping
    r["kmeans_counts"] = [line for line in proc.stderr.splitlines() if line.startswith("factor k-means:")]
    return wall, r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", required=True, help="folder with p0.onnx, p1.onnx, ...")
    ap.add_argument("--data", required=True)
    ap.add_argument("--variant", action="append", required=True, help="LABEL=JAR[:JVM_ARG,JVM_ARG...]")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--java", default="java")
    ap.add_argument("--xmx", default="8g")
    ap.add_argument("--json")
    ap.add_argument("--cli-args", default="", help="more onnx-fuse arguments, space-separated")
    ap.add_argument("--stage", default="statistics", choices=["statistics", "grouping"],
                    help="the per-level stage to tabulate (grouping: no floor column is meaningful)")
    args = ap.parse_args()
    parents = sorted(glob.glob(os.path.join(args.case, "p*.onnx")))
    variants = []
    for v in args.variant:
        label, spec = v.split("=", 1)
        jar, _, extra = spec.partition(":")
        variants.append((label, jar, [a for a in extra.split(",") if a]))
    load = [os.getloadavg()]
    rates = [gemm_rate(variants[0][1], args.java)]
    runs = {label: [] for label, _, _ in variants}
    for rep in range(args.repeats):
        for label, jar, extra in variants:
            wall, report = run(args.java, jar, extra, parents, args.data, args.xmx, args.cli_args.split())
            runs[label].append({"wall": wall, "report": report, "load": os.getloadavg()[0]})
            print(f"# {label} repeat {rep + 1}: wall {wall:.1f} s, {args.stage} "
                  f"{report['timings'][args.stage + '_ms'] / 1000:.2f} s, load {os.getloadavg()[0]:.2f}",
                  file=sys.stderr, flush=True)
            for line in report["kmeans_counts"]:
                print(f"#   {line}", file=sys.stderr, flush=True)
            if args.json:
                dump(args.json, rates, [load[0]], None, None, runs)
    rates.append(gemm_rate(variants[0][1], args.java))
    load.append(os.getloadavg())
    rate = max(r for r in rates if r)
    k = len(parents)
    print(f"GEMM rate (diagnose --bench, float64 2048^3): {', '.join(f'{r:.1f}' for r in rates)} GFLOP/s; "
          f"floor at {rate:.1f}; load average {load[0][0]:.2f} -> {load[1][0]:.2f}; {args.repeats} repeats, interleaved")
    levels = runs[variants[0][0]][0]["report"]["levels"]
    header = "| level | op | rows | d | m | GFLOP | floor (s) | " + " | ".join(
        f"{label} (s) | {label} GFLOP/s | {label} / floor" for label, _, _ in variants) + " |"
    print(header)
    print("|" + "---|" * (7 + 3 * len(variants)))
    totals = {label: 0.0 for label, _, _ in variants}
    total_flops = 0.0
    table = []
    for i, lv in enumerate(levels):
        n, d, m = lv["rows"], lv["fanIn"], lv["width"] * k
        flops = n * d * (d + 1) + 2 * n * d * m + n * m * (m + 1)
        total_flops += flops
        floor = flops / (rate * 1e9)
        row = [str(lv["level"]), lv["op"], str(n), str(d), str(m), f"{flops / 1e9:.1f}", f"{floor:.2f}"]
        entry = {"level": lv["level"], "rows": n, "d": d, "m": m, "gflop": flops / 1e9, "floor_s": floor}
        for label, _, _ in variants:
            t = statistics.median(r["report"]["levels"][i]["timings"][args.stage + "_ms"] / 1000 for r in runs[label])
            totals[label] += t
            entry[label] = t
            row += [f"{t:.2f}", f"{flops / 1e9 / t:.1f}" if t > 0 else "", f"{t / floor:.2f}" if floor > 0 else ""]
        table.append(entry)
        print("| " + " | ".join(row) + " |")
    floor = total_flops / (rate * 1e9)
    row = ["all", "", "", "", "", f"{total_flops / 1e9:.1f}", f"{floor:.2f}"]
    for label, _, _ in variants:
        # the stage as the report times it (median over repeats), beside the sum of level medians
        stage = statistics.median(r["report"]["timings"][args.stage + "_ms"] / 1000 for r in runs[label])
        row += [f"{stage:.2f}", f"{total_flops / 1e9 / stage:.1f}", f"{stage / floor:.2f}"]
    print("| " + " | ".join(row) + " |")
    walls = {label: statistics.median(r["wall"] for r in runs[label]) for label, _, _ in variants}
    print("whole command (median wall, s): " + ", ".join(f"{label} {w:.1f}" for label, w in walls.items()))
    if args.json:
        dump(args.json, rates, load, table, walls, runs)


def dump(path, rates, load, table, walls, runs):
    """Raw figures; rewritten after every run (table and walls only at the end)."""
    with open(path, "w") as f:
        json.dump({"gemm_gflops": rates, "load": load, "levels": table, "walls": walls,
                   "runs": {label: [{"wall": r["wall"], "load": r["load"],
                                     "timings": r["report"]["timings"],
                                     "levels": [lv["timings"] for lv in r["report"]["levels"]],
                                     "kmeans_counts": r["report"]["kmeans_counts"],
                                     "fitError": [lv.get("fitError") for lv in r["report"]["levels"]]}
                                    for r in rs] for label, rs in runs.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
