#!/usr/bin/env python3
"""Two builds of onnx-fuse side by side: the whole command (and its statistics and solve stages,
from --report) on the bundled pairs, the two jars interleaved run by run so that a busy machine
slows both alike; prints and writes medians and new/old ratios, the fused accuracy on the bundled
test set (MNIST cases) and whether the two fused models are the same bytes.

    python3 bench/compare_jars.py --old old.jar --new new.jar [--repeats 3] [--threads 2] [--out FILE]
        [--cases NAME,...] [--scale-dir DIR] [--extra "--grouping-form factor ..."]

--scale-dir adds the wide MLP pair that bench/run_scale.py builds (DIR/mlp-k2, 2000 samples of
DIR/data, no labels): "mlp-k2 2000".
"""
import hashlib
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "test-models", "models")
DATA = os.path.join(ROOT, "test-models", "data")
MNIST_DATA = ["--data", os.path.join(DATA, "calib5000_x.npy"), "--labels", os.path.join(DATA, "calib5000_y.npy"),
              "--eval-data", os.path.join(DATA, "test_x.npy"), "--eval-labels", os.path.join(DATA, "test_y.npy")]
CASES = {
    "mlp_k8 5000": ([os.path.join(MODELS, f"mlp_k8_p{i}.onnx") for i in range(8)], MNIST_DATA),
    "vgg 5000": ([os.path.join(MODELS, "vgg_p0.onnx"), os.path.join(MODELS, "vgg_p1.onnx")], MNIST_DATA),
    "resnet 5000": ([os.path.join(MODELS, "dag", "resnet_p0.onnx"), os.path.join(MODELS, "dag", "resnet_p1.onnx")],
                    MNIST_DATA),
}
STAGES = ("wall", "statistics", "grouping", "solve")


def run(jar, parents, data, threads, work, extra=()):
    report = os.path.join(work, "report.json")
    fused = os.path.join(work, "fused.onnx")
    cmd = ["java", "-jar", jar, *parents, *data, "--threads", str(threads), "--no-check", "-q", "--report", report,
           "-o", fused, *extra]
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - start
    if proc.returncode != 0:
        return {"wall": wall, "exit": proc.returncode, "error": proc.stderr.strip()[-300:]}
    with open(report) as f:
        doc = json.load(f)
    timings = doc["timings"]
    with open(fused, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    out = {"wall": wall, "exit": 0, "statistics": timings.get("statistics_ms", 0) / 1e3,
           "grouping": timings.get("grouping_ms", 0) / 1e3, "solve": timings.get("solve_ms", 0) / 1e3,
           "sha256": digest}
    if "accuracy" in doc:
        out["accuracy"] = doc["accuracy"]["fused"]
    os.remove(fused)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="write the raw runs and medians here as JSON")
    ap.add_argument("--cases", help="comma-separated case names (default: all)")
    ap.add_argument("--extra", default="", help="more options for both jars' commands (one string)")
    ap.add_argument("--scale-dir", help="bench/run_scale.py's cache folder: adds \"mlp-k2 2000\"")
    args = ap.parse_args()
    cases = dict(CASES)
    if args.scale_dir:
        cases["mlp-k2 2000"] = ([os.path.join(args.scale_dir, "mlp-k2", f"p{i}.onnx") for i in range(2)],
                                ["--data", os.path.join(args.scale_dir, "data", "calib_3x32x32_2000.npy")])
    if args.cases:
        names = args.cases.split(",")
        unknown = [n for n in names if n not in cases]
        if unknown:
            ap.error(f"unknown case(s) {unknown}; known: {sorted(cases)}")
        cases = {n: cases[n] for n in names}
    runs = {}
    with tempfile.TemporaryDirectory() as work:
        for name, (parents, data) in cases.items():
            for _ in range(args.repeats):
                for label, jar in (("old", args.old), ("new", args.new)):
                    runs.setdefault(name, {}).setdefault(label, []).append(
                        run(jar, parents, data, args.threads, work, args.extra.split()))
    summary = {}
    for name, by in runs.items():
        def median(label, key):
            values = [r[key] for r in by[label] if r["exit"] == 0 and key in r]
            return statistics.median(values) if values else float("nan")
        row = {k: {"old": median("old", k), "new": median("new", k)} for k in STAGES}
        row["ratio"] = row["wall"]["new"] / row["wall"]["old"]
        digests = {label: {r.get("sha256") for r in by[label] if r["exit"] == 0} for label in ("old", "new")}
        row["sameBytes"] = len(digests["old"] | digests["new"]) == 1
        row["accuracy"] = {label: sorted({r["accuracy"] for r in by[label] if "accuracy" in r})
                           for label in ("old", "new")}
        summary[name] = row
        stages = "; ".join(f"{k} {row[k]['old']:.2f} -> {row[k]['new']:.2f} s" for k in STAGES[1:])
        print(f"{name}: whole command {row['wall']['old']:.2f} -> {row['wall']['new']:.2f} s (new/old"
              f" {row['ratio']:.3f}); {stages}; same bytes: {row['sameBytes']}; fused accuracy old"
              f" {row['accuracy']['old']} new {row['accuracy']['new']}")
    print(f"load average at the end: {os.getloadavg()}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"runs": runs, "medians": summary, "repeats": args.repeats, "threads": args.threads,
                       "extra": args.extra,
                       "loadAverage": os.getloadavg()}, f, indent=1)
    return 1 if any(r["exit"] != 0 for by in runs.values() for rs in by.values() for r in rs) else 0


if __name__ == "__main__":
    sys.exit(main())
