#!/usr/bin/env python3
"""Two builds of onnx-fuse side by side: the whole command (and its statistics and solve stages,
from --report) on the bundled pairs, the two jars interleaved run by run so that a busy machine
slows both alike; prints and writes medians and new/old ratios.

    python3 bench/compare_jars.py --old old.jar --new new.jar [--repeats 3] [--threads 2] [--out FILE]
"""
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
CASES = {
    "mlp_k8 5000": [os.path.join(MODELS, f"mlp_k8_p{i}.onnx") for i in range(8)],
    "vgg 5000": [os.path.join(MODELS, "vgg_p0.onnx"), os.path.join(MODELS, "vgg_p1.onnx")],
    "resnet 5000": [os.path.join(MODELS, "dag", "resnet_p0.onnx"), os.path.join(MODELS, "dag", "resnet_p1.onnx")],
}


def run(jar, parents, threads, work):
    report = os.path.join(work, "report.json")
    cmd = ["java", "-jar", jar, *parents, "--data", os.path.join(DATA, "calib5000_x.npy"), "--labels",
           os.path.join(DATA, "calib5000_y.npy"), "--threads", str(threads), "--no-check", "-q", "--report", report,
           "-o", os.path.join(work, "fused.onnx")]
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - start
    if proc.returncode != 0:
        return {"wall": wall, "exit": proc.returncode, "error": proc.stderr.strip()[-300:]}
    with open(report) as f:
        timings = json.load(f)["timings"]
    return {"wall": wall, "exit": 0, "statistics": timings.get("statistics_ms", 0) / 1e3,
            "solve": timings.get("solve_ms", 0) / 1e3}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="write the raw runs and medians here as JSON")
    args = ap.parse_args()
    runs = {}
    with tempfile.TemporaryDirectory() as work:
        for name, parents in CASES.items():
            for _ in range(args.repeats):
                for label, jar in (("old", args.old), ("new", args.new)):
                    runs.setdefault(name, {}).setdefault(label, []).append(run(jar, parents, args.threads, work))
    summary = {}
    for name, by in runs.items():
        def median(label, key):
            values = [r[key] for r in by[label] if r["exit"] == 0 and key in r]
            return statistics.median(values) if values else float("nan")
        row = {k: {"old": median("old", k), "new": median("new", k)} for k in ("wall", "statistics", "solve")}
        row["ratio"] = row["wall"]["new"] / row["wall"]["old"]
        summary[name] = row
        print(f"{name}: whole command {row['wall']['old']:.2f} -> {row['wall']['new']:.2f} s (new/old"
              f" {row['ratio']:.3f}); statistics {row['statistics']['old']:.2f} -> {row['statistics']['new']:.2f} s;"
              f" solve {row['solve']['old']:.2f} -> {row['solve']['new']:.2f} s")
    print(f"load average at the end: {os.getloadavg()}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"runs": runs, "medians": summary, "repeats": args.repeats, "threads": args.threads,
                       "loadAverage": os.getloadavg()}, f, indent=1)
    return 1 if any(r["exit"] != 0 for by in runs.values() for rs in by.values() for r in rs) else 0


if __name__ == "__main__":
    sys.exit(main())
