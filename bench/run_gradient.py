#!/usr/bin/env python3
"""Gradient-variant benchmark and sweeps (issue 8), one command:

    python3 bench/run_gradient.py                       # the benchmark rows
    python3 bench/run_gradient.py --variants sweep-lr   # a named sweep (see SWEEPS)

Runs the CLI on the MLP parents (K = 2, 4, 8; test-models/models/mlp_k{K}_p*.onnx) and on the K = 2
pairs named by --sets (vgg, bn, resnet, ...), with 400 and 5000 calibration images and their labels,
once per variant (a label and its CLI options), and reads the held-out accuracy and the per-level
training figures from each run's JSON report. Whole-command wall times are the median of --repeat
runs of the same command, side by side in one run of this script. Writes
bench/results/{--stem}.json.gz (every run, raw) and .md (tables).
"""

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

import benchlib as bl

VARIANTS = {
    "kf-linear": ["--method", "kf-linear"],
    "kf-gradient": ["--method", "kf-gradient"],
    "kf-gradient (from parents)": ["--method", "kf-gradient", "--train-from", "parents"],
    "kf-auto": ["--method", "kf-auto"],
    "kf-auto --distill 2": ["--method", "kf-auto", "--distill", "2"],
    "kf-gradient --distill 2": ["--method", "kf-gradient", "--distill", "2"],
    "average": ["--method", "average"],
    "weight-match": ["--method", "weight-match"],
    "act-match": ["--method", "act-match"],
}

SWEEPS = {
    # learning rate of kf-gradient: the range test against fixed rates (reference defaults 1e-4 MLP, 1e-3 VGG)
    "sweep-lr": {f"kf-gradient --lr {lr}": ["--method", "kf-gradient", "--lr", lr]
                 for lr in ["auto", "1e-4", "1e-3", "1e-2"]},
    # where training starts and how long it may run
    "sweep-start": {
        "kf-linear": ["--method", "kf-linear"],
        "kf-gradient (from parents)": ["--method", "kf-gradient", "--train-from", "parents"],
        "kf-gradient (from linear)": ["--method", "kf-gradient", "--train-from", "linear"],
        "kf-gradient --patience 5": ["--method", "kf-gradient", "--patience", "5"],
        "kf-gradient --reinit": ["--method", "kf-gradient", "--reinit"],
        "kf-gradient --patience 30": ["--method", "kf-gradient", "--patience", "30"],
        "kf-gradient --optimizer sgd": ["--method", "kf-gradient", "--optimizer", "sgd"],
        "kf-gradient --weight-decay 0": ["--method", "kf-gradient", "--weight-decay", "0"],
    },
    # the last level's distillation temperature
    # what one training segment is: each level alone, or each residual block's levels together
    "sweep-segments": {
        "kf-linear": ["--method", "kf-linear"],
        "kf-gradient": ["--method", "kf-gradient"],
        "kf-gradient --segments blocks": ["--method", "kf-gradient", "--segments", "blocks"],
        "kf-auto --segments blocks": ["--method", "kf-auto", "--segments", "blocks"],
    },
    # how long residual blocks train (patience 15 stops none of them within 100 epochs at 400 samples)
    "sweep-block-epochs": {f"kf-gradient --epochs {e}": ["--method", "kf-gradient", "--epochs", e]
                           for e in ["50", "100", "200"]},
    # transformers (the tiny ViT pairs): the variants against the baselines that align whole heads
    "attention": {label: ["--method", label] for label in
                  ["kf-linear", "kf-gradient", "kf-auto", "average", "weight-match", "act-match"]},
    "sweep-distill": {f"kf-auto --distill {t}": ["--method", "kf-auto", "--distill", t] for t in ["1", "2", "4"]}
                     | {"kf-auto --refine 10": ["--method", "kf-auto", "--refine", "10"]},
}

OTHER_DIRS = {"vgg": "", "bn": "", "gap": "", "zoo": "", "mlpmm": "",
              "resnet": "dag", "mbv2": "dag", "se": "dag", "dense": "dag", "squeeze": "dag",
              "vitk2": "vit", "vitk2op13": "vit"}


def parent_files(set_name, k):
    if set_name == "mlp":
        return bl.parents(k)
    folder = bl.MODELS / OTHER_DIRS[set_name] if OTHER_DIRS[set_name] else bl.MODELS
    return [folder / f"{set_name}_p{i}.onnx" for i in range(k)]


def one_run(args, set_name, k, calib, label, options):
    with tempfile.TemporaryDirectory(prefix="onnx-fuse-gradient-") as tmp:
        work = Path(tmp)
        cmd = bl.cli_prefix(args) + [str(p) for p in parent_files(set_name, k)] + [
            "--data", str(bl.DATA / f"calib{calib}_x.npy"),
            "--labels", str(bl.DATA / f"calib{calib}_y.npy"),
            "--eval-data", str(bl.DATA / "test_x.npy"),
            "--eval-labels", str(bl.DATA / "test_y.npy"),
            "--seed", str(args.seed), "--report", str(work / "report.json"),
            "-o", str(work / "fused.onnx"), "--quiet", *options] + shlex.split(args.extra_args)
        walls = []
        report = None
        code = None
        err = ""
        for _ in range(args.repeat):
            code, wall, _, err = bl.run_cli(cmd, args.timeout)
            walls.append(wall)
            report = bl.read_report(work / "report.json")
            if code != 0:
                break
    run = {"set": set_name, "K": k, "calibration": calib, "variant": label, "options": options,
           "exitCode": code, "wallSeconds": [round(w, 3) for w in walls],
           "medianWallSeconds": round(bl.median(walls), 3)}
    if code != 0 or report is None:
        run["error"] = bl.tail(err) or f"exit code {code}"
        return run
    run["accuracy"] = report.get("accuracy")
    run["timings"] = report.get("timings")
    run["levels"] = [{key: level.get(key) for key in ("level", "op", "method", "width", "fitError", "training")}
                     for level in report.get("levels", [])]
    run["config"] = report.get("config")
    return run


def pct(x):
    return "" if x is None else f"{100 * x:.2f}"


def markdown(result):
    labels = list(result["variants"])
    lines = [f"# Gradient variant: {result['title']} (onnx-fuse)", "", bl.environment_markdown(result["environment"]),
             f"- protocol: parents in file order (p0 the template), calibration `calib{{N}}_x.npy` with labels,"
             f" accuracy on the held-out `test_x.npy` (1500 images), `--seed {result['seed']}`; wall time = median"
             f" of {result['repeat']} runs of the whole command", "",
             "Test accuracy in % (wall seconds, median). Best fused result per row in bold.", "",
             "| setting | best parent | ensemble | " + " | ".join(labels) + " |",
             "|---|---|---|" + "---|" * len(labels)]
    keys = []
    for r in result["runs"]:
        key = (r["set"], r["K"], r["calibration"])
        if key not in keys:
            keys.append(key)
    for key in keys:
        runs = {r["variant"]: r for r in result["runs"] if (r["set"], r["K"], r["calibration"]) == key}
        acc = next((r["accuracy"] for r in runs.values() if r.get("accuracy")), None)
        best = max((r["accuracy"]["fused"] for r in runs.values() if r.get("accuracy")), default=None)
        cells = []
        for label in labels:
            r = runs.get(label)
            if r is None:
                cells.append("")
            elif r.get("accuracy") is None:
                cells.append("failed")
            else:
                f = r["accuracy"]["fused"]
                text = pct(f)
                cells.append((f"**{text}**" if f == best else text) + f" ({r['medianWallSeconds']:.1f} s)")
        name = f"{key[0]} K={key[1]}, {key[2]}"
        lines.append(f"| {name} | {pct(acc['bestParent']) if acc else ''} | {pct(acc['ensemble']) if acc else ''} | "
                     + " | ".join(cells) + " |")
    lines += ["", "Raw figures (per-level training: epochs, learning rate, validation loss, time): "
              f"`{result['stem']}.json.gz`.", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bl.add_common_options(parser)
    parser.add_argument("--sets", type=bl.csv_strings, default=["mlp"], help="mlp and/or " + ",".join(OTHER_DIRS))
    parser.add_argument("--k", type=bl.csv_ints, default=[2, 4, 8], help="MLP parent counts")
    parser.add_argument("--calibration", type=bl.csv_ints, default=[400, 5000])
    parser.add_argument("--variants", default="default",
                        help="'default', a sweep name (" + ", ".join(SWEEPS) + ") or comma-separated labels of "
                             + "the default variants")
    parser.add_argument("--repeat", type=int, default=1, help="runs per command for the median wall time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stem", default="gradient", help="result file name (default: %(default)s)")
    args = parser.parse_args(argv)
    bl.check_cli(args)
    if args.variants == "default":
        variants = VARIANTS
        title = "benchmark"
    elif args.variants in SWEEPS:
        variants = SWEEPS[args.variants]
        title = args.variants
    else:
        variants = {v: VARIANTS[v] for v in bl.csv_strings(args.variants)}
        title = "selected variants"
    environment = bl.environment(args)  # before the runs: the commit and load they start from
    runs = []
    for set_name in args.sets:
        for k in (args.k if set_name == "mlp" else [2]):
            for calib in args.calibration:
                for label, options in variants.items():
                    bl.progress(f"{set_name} K={k} {calib}: {label}")
                    run = one_run(args, set_name, k, calib, label, options)
                    if run.get("error"):
                        bl.progress("  failed: " + run["error"])
                    runs.append(run)
    result = {"title": title, "stem": args.stem, "environment": environment, "seed": args.seed,
              "repeat": args.repeat, "variants": variants, "runs": runs}
    bl.write_results(args.out_dir, args.stem, result, markdown(result))
    return 0 if all(not r.get("error") for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
