#!/usr/bin/env python3
"""Two builds of onnx-fuse side by side on the MLP fixtures: the whole command (JVM start included,
wall and CPU time from /usr/bin/time) for each setting and method, the jars interleaved run by run
(their order alternating between repeats) so that a busy machine slows both alike; writes the raw
runs as JSON and prints medians, new/base ratios, the load average and whether the fused models of
the two jars are the same bytes (last repeat of each case).

    python3 bench/side_by_side.py --base base.jar --new new.jar [--settings 2/400,8/400,8/5000]
        [--methods kf-linear,kf-gradient] [--repeats 5] [--out FILE]
"""
import argparse
import filecmp
import json
import os
import statistics
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "test-models", "models")
DATA = os.path.join(ROOT, "test-models", "data")


def load():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def run(jar, k, n, method, work, label):
    parents = [os.path.join(MODELS, f"mlp_k{k}_p{i}.onnx") for i in range(k)]
    report = os.path.join(work, "report.json")
    fused = os.path.join(work, f"{label}_{method}_{k}_{n}.onnx")
    cmd = ["/usr/bin/time", "-f", "%e %U %S %M", "java", "-jar", jar, *parents, "--data",
           os.path.join(DATA, f"calib{n}_x.npy"), "--method", method, "--seed", "0", "--report", report, "-o", fused,
           "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall, user, system, rss = proc.stderr.strip().splitlines()[-1].split()
    timings = {}
    if proc.returncode == 0:
        with open(report) as f:
            timings = json.load(f)["timings"]
    return {"jar": label, "k": k, "n": n, "method": method, "exit": proc.returncode, "wall": float(wall),
            "cpu": float(user) + float(system), "rss_kib": int(rss), "timings": timings, "load": load()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--settings", default="2/400,8/400,8/5000")
    ap.add_argument("--methods", default="kf-linear,kf-gradient")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", help="write the raw runs and medians here as JSON")
    args = ap.parse_args()
    settings = [tuple(int(x) for x in s.split("/")) for s in args.settings.split(",")]
    methods = args.methods.split(",")
    jars = {"base": args.base, "new": args.new}
    start_load = load()
    runs = []
    summary = []
    with tempfile.TemporaryDirectory() as work:
        for r in range(args.repeats):
            for k, n in settings:
                for method in methods:
                    for label in (("base", "new") if r % 2 == 0 else ("new", "base")):
                        runs.append(run(jars[label], k, n, method, work, label))
        for k, n in settings:
            for method in methods:
                row = {"setting": f"{k}/{n}", "method": method}
                for label in jars:
                    sel = [x for x in runs if x["jar"] == label and x["k"] == k and x["n"] == n
                           and x["method"] == method and x["exit"] == 0]
                    row[label] = {"wall": statistics.median(x["wall"] for x in sel) if sel else None,
                                  "cpu": statistics.median(x["cpu"] for x in sel) if sel else None,
                                  "runs": len(sel)}
                ok = row["base"]["wall"] and row["new"]["wall"]
                row["ratio_wall"] = row["new"]["wall"] / row["base"]["wall"] if ok else None
                row["ratio_cpu"] = row["new"]["cpu"] / row["base"]["cpu"] if ok else None
                row["same_bytes"] = filecmp.cmp(os.path.join(work, f"base_{method}_{k}_{n}.onnx"),
                                                os.path.join(work, f"new_{method}_{k}_{n}.onnx"), shallow=False) \
                    if ok else None
                summary.append(row)
    end_load = load()
    print(f"load average at start {start_load}, at end {end_load}")
    print("setting | method | base wall (s) | new wall (s) | new/base | base CPU (s) | new CPU (s) | new/base | same bytes")
    for row in summary:
        b, nw = row["base"], row["new"]
        if row["ratio_wall"] is None:
            print(f"{row['setting']} | {row['method']} | failed runs: base {b['runs']}, new {nw['runs']}")
            continue
        print(f"{row['setting']} | {row['method']} | {b['wall']:.2f} | {nw['wall']:.2f} | {row['ratio_wall']:.2f} | "
              f"{b['cpu']:.2f} | {nw['cpu']:.2f} | {row['ratio_cpu']:.2f} | {row['same_bytes']}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"base": args.base, "new": args.new, "start_load": start_load, "end_load": end_load,
                       "summary": summary, "runs": runs}, f, indent=1)
    failed = [x for x in runs if x["exit"] != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
