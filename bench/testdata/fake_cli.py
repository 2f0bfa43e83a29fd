#!/usr/bin/env python3
"""A stand-in for `java -jar onnx-fuse.jar`, for testing the benchmark scripts without the CLI:
`python3 bench/run_quality.py --command "python3 bench/testdata/fake_cli.py"`.

`diagnose ...` prints sample_diagnose.json. Otherwise it writes sample_report.json to --report,
with one parent entry per .onnx argument and a made-up fused accuracy that depends on --method,
and an empty file to -o. Like the real CLI's, the baselines' timings have only read/fuse/write/
evaluate/total, and evaluate is there only with accuracies (labels given). Set
FAKE_CLI_FAIL=<method> to make that method fail (exit 3)."""

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FAKE_FUSED = {"kf-linear": 0.90, "hf-linear": 0.89, "kf-gradient": 0.91, "kf-auto": 0.90, "average": 0.40, "weight-match": 0.55, "act-match": 0.70}
BASELINES = {"average", "weight-match", "act-match"}
LEVEL_STAGES = ["inference_ms", "statistics_ms", "grouping_ms", "solve_ms"]
INTERPOLATION_ONLY = LEVEL_STAGES + ["importance_ms"]


def option(args, name):
    return args[args.index(name) + 1] if name in args else None


def main(args):
    if args and args[0] == "diagnose":
        print((HERE / "sample_diagnose.json").read_text())
        return 0
    method = option(args, "--method") or "kf-linear"
    if os.environ.get("FAKE_CLI_FAIL") == method:
        print(f"onnx-fuse: error: fake failure for {method}", file=sys.stderr)
        return 3
    report = json.loads((HERE / "sample_report.json").read_text())
    parents = [a for a in args if a.endswith(".onnx") and a != option(args, "-o")]
    report["config"]["parents"] = [Path(p).name for p in parents]
    report["config"]["method"] = method
    timings = report["timings"]
    timings["fuse_ms"] = round(sum(timings[st] for st in INTERPOLATION_ONLY) + 100.0, 1)
    if method in BASELINES:
        for st in INTERPOLATION_ONLY:
            del timings[st]
        timings["fuse_ms"] = 150.0
    acc = report["accuracy"]
    acc["parents"] = [{"file": Path(p).name, "accuracy": 0.6 + 0.01 * i} for i, p in enumerate(parents)]
    acc["bestParent"] = max(p["accuracy"] for p in acc["parents"])
    acc["ensemble"] = 0.88
    acc["fused"] = FAKE_FUSED.get(method, 0.5)
    if option(args, "--importance") is not None:
        acc["fused"] += 0.005  # attribution importance: a made-up gain
        report["config"]["importance"] = option(args, "--importance")
    if method in ("kf-gradient", "kf-auto"):
        for level in report["levels"]:
            level["training"] = {"epochs": 20, "bestEpoch": 5, "learningRate": 1e-3, "startValidationLoss": 1.0,
                                 "bestValidationLoss": 0.1, "stopped": "patience", "time_ms": 12}
    if option(args, "--eval-labels") is None and option(args, "--labels") is None:
        del report["accuracy"]
        del timings["evaluate_ms"]  # as the real CLI: no accuracy, no evaluate stage
    Path(option(args, "--report")).write_text(json.dumps(report, indent=2))
    Path(option(args, "-o")).write_bytes(b"")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
