#!/usr/bin/env python3
"""Fusion quality benchmark (docs/BENCHMARKS.md, "Fusion quality"), one command:

    python3 bench/run_quality.py

For K = 2, 4, 8 MLP parents (test-models/models/mlp_k{K}_p*.onnx, file order), for the other K = 2
parent pairs (vgg, bn, gap, zoo, mlpmm: test-models/models/{set}_p{0,1}.onnx, file order),
calibration sets of 400 and 5000 images, and every method, runs the CLI once with the calibration
labels and the held-out test set, and reads the accuracies (each parent, ensemble, fused) from its
JSON report. Writes bench/results/quality.json.gz (every run, raw) and bench/results/quality.md
(tables: the MLPs, then the other architectures; then the targets). --sets picks parent sets.
Accuracy does not depend on the machine; wall times are recorded but not the point here.
"""

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

import benchlib as bl

# "method:importance" runs the method with --importance (ALGORITHM.md section 6); plain names use the
# CLI's default importance (deeplift for kf-linear and hf-linear).
METHODS = ["kf-linear", "kf-linear:uniform", "kf-linear:conductance", "kf-linear:ablation", "hf-linear",
           "average", "weight-match", "act-match"]
K2_ONLY = {"hf-linear"}

# Parent sets: "mlp" (K from --k), then the K = 2 pairs of other architectures (test-models/README.md),
# in this order in the runs and the tables.
OTHER_SETS = {
    "vgg": "VGG-style CNN (Conv-ReLU-MaxPool x2, Gemm)",
    "bn": "CNN with BatchNormalization (Conv-BN-ReLU-MaxPool x2, Gemm-BN-ReLU, Gemm)",
    "gap": "pooling CNN (Conv-ReLU-AveragePool, strided dilated Conv-ReLU, GlobalAveragePool, Gemm)",
    "zoo": "MLP 784-32x5-10 with Tanh, Sigmoid, LeakyRelu, Gelu (Erf), Clip",
    "mlpmm": "MLP 784-64-10 as MatMul+Add",
}
# K = 2 pairs of networks that are not one chain (test-models/models/dag, made by make_dag_models.py)
DAG_SETS = {
    "resnet": "ResNet with BatchNormalization, identity and strided 1x1 projection shortcuts",
    "mbv2": "MobileNetV2-style inverted residuals (1x1 expand, depthwise 3x3, 1x1 project, ReLU6)",
    "se": "EfficientNet-style blocks (depthwise Conv, SiLU, squeeze-excitation gates, residual Add)",
    "dense": "DenseNet-style dense blocks (Concat of every layer's output) and a transition",
    "squeeze": "SqueezeNet-style fire modules (squeeze 1x1, Concat of expand 1x1 and 3x3)",
    "twohead": "two outputs (logits, scored here, and an auxiliary head aux_logits, fused alike)",
}
OTHER_SETS.update(DAG_SETS)
SETS = ["mlp"] + list(OTHER_SETS)
OTHER_K = 2


def parent_files(set_name, k):
    """The parents of a set, in file order (p0 first: the CLI's template)."""
    if set_name == "mlp":
        return bl.parents(k)
    folder = bl.MODELS / "dag" if set_name in DAG_SETS else bl.MODELS
    return [folder / f"{set_name}_p{i}.onnx" for i in range(k)]


def label(set_name, k, calib):
    """How a setting is named in the targets and failures: "K=2, 400" (MLP) or "vgg K=2, 400"."""
    return (f"K={k}, {calib}" if set_name == "mlp" else f"{set_name} K={k}, {calib}")


def sets_option(text):
    names = bl.csv_strings(text)
    unknown = [n for n in names if n not in SETS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown set(s) {', '.join(unknown)}; known: {','.join(SETS)}")
    return [n for n in SETS if n in names]  # canonical order


def command(args, set_name, k, calib, method, work):
    return bl.cli_prefix(args) + [str(p) for p in parent_files(set_name, k)] + [
        "--data", str(bl.DATA / f"calib{calib}_x.npy"),
        "--labels", str(bl.DATA / f"calib{calib}_y.npy"),
        "--eval-data", str(bl.DATA / "test_x.npy"),
        "--eval-labels", str(bl.DATA / "test_y.npy"),
        *bl.method_options(method), "--seed", str(args.seed),
        "--report", str(work / "report.json"),
        "-o", str(work / "fused.onnx"),
        "--quiet"] + shlex.split(args.extra_args)


def one_run(args, set_name, k, calib, method):
    with tempfile.TemporaryDirectory(prefix="onnx-fuse-quality-") as tmp:
        work = Path(tmp)
        cmd = command(args, set_name, k, calib, method, work)
        code, wall, out, err = bl.run_cli(cmd, args.timeout)
        report = bl.read_report(work / "report.json")
        fused_written = (work / "fused.onnx").is_file()
    run = {"set": set_name, "K": k, "calibration": calib, "method": method,
           "parents": [p.name for p in parent_files(set_name, k)],
           "exitCode": code, "wallSeconds": round(wall, 3), "fusedWritten": fused_written}
    if code != 0 or report is None:
        run["error"] = bl.tail(err) or ("no report written" if report is None else f"exit code {code}")
        return run
    accuracy = report.get("accuracy")
    if not accuracy:
        run["error"] = "the report has no accuracy section"
    else:
        run["accuracy"] = accuracy
    run["timings"] = report.get("timings")
    run["levels"] = [{key: level.get(key) for key in ("level", "op", "method", "width", "fanIn", "fitError",
                                                      "groupingCost")}
                     for level in report.get("levels", [])]
    run["warnings"] = report.get("warnings", [])
    run["config"] = report.get("config")
    run["version"] = report.get("version")
    return run


def pct(x):
    return "" if x is None else f"{100 * x:.2f}"


def row_order(key):
    set_name, k, calib = key
    return (SETS.index(set_name) if set_name in SETS else len(SETS), set_name, k, calib)


def setting_rows(runs):
    """Per (set, K, calibration), in table order: parents' accuracies, ensemble and each method's fused
    accuracy."""
    rows = {}
    for run in runs:
        key = (run.get("set", "mlp"), run["K"], run["calibration"])
        row = rows.setdefault(key, {"parents": None, "ensemble": None, "methods": {}})
        acc = run.get("accuracy")
        if acc:
            parent_acc = [p.get("accuracy") for p in acc.get("parents", [])]
            if row["parents"] is None:
                row["parents"] = parent_acc
                row["ensemble"] = acc.get("ensemble")
            elif row["parents"] != parent_acc or row["ensemble"] != acc.get("ensemble"):
                row.setdefault("inconsistent", True)  # parents/ensemble must not depend on the method
            row["methods"][run["method"]] = acc.get("fused")
        else:
            row["methods"][run["method"]] = "error"
    return {key: rows[key] for key in sorted(rows, key=row_order)}


def targets(rows):
    """BENCHMARKS.md's targets, judged setting by setting; None when a figure is missing."""
    checks = []
    for (set_name, k, calib), row in rows.items():
        setting = label(set_name, k, calib)
        for variant in [m for m in row["methods"] if m.partition(":")[0] == "kf-linear"]:
            kf = row["methods"].get(variant)
            kf = kf if isinstance(kf, float) else None
            for other in ("average", "weight-match", "act-match"):
                o = row["methods"].get(other)
                o = o if isinstance(o, float) else None
                ok = None if kf is None or o is None else kf > o
                checks.append({"setting": setting, "target": f"{variant} > {other}", "pass": ok})
            if k in (2, 4):
                best = max(row["parents"]) if row["parents"] else None
                ok = None if kf is None or best is None else kf > best
                checks.append({"setting": setting, "target": f"{variant} > best parent", "pass": ok})
    return checks


def verdict(ok):
    return "not measured" if ok is None else ("pass" if ok else "FAIL")


def table(rows, methods, name):
    """One table: a row per setting of rows, one column per method. name(set, K, calib) heads a row."""
    lines = ["| setting | best parent | ensemble | " + " | ".join(methods) + " | ensemble - kf-linear |",
             "|---|---|---|" + "---|" * len(methods) + "---|"]
    for (set_name, k, calib), row in rows.items():
        fused = {m: v for m, v in row["methods"].items() if isinstance(v, float)}
        top = max(fused.values()) if fused else None
        cells = []
        for m in methods:
            v = row["methods"].get(m)
            if v is None:
                cells.append("n/a" if (m in K2_ONLY and k != 2) else "")
            elif v == "error":
                cells.append("error")
            else:
                cells.append(f"**{pct(v)}**" if v == top else pct(v))
        best = max(row["parents"]) if row["parents"] else None
        kf = fused.get("kf-linear")
        gap = f"{100 * (row['ensemble'] - kf):+.2f}" if kf is not None and row["ensemble"] is not None else ""
        lines.append(f"| {name(set_name, k, calib)} | {pct(best)} | {pct(row['ensemble'])} | " + " | ".join(cells)
                     + f" | {gap} |")
    return lines


def parent_lines(rows, name):
    """Each parent's accuracy, once per (set, K) (from its smallest calibration set)."""
    lines = []
    for (set_name, k, calib), row in rows.items():
        if calib == min(c for s, kk, c in rows if (s, kk) == (set_name, k)) and row["parents"]:
            lines.append(f"- {name(set_name, k)}: " + ", ".join(pct(a) for a in row["parents"]))
    return lines


def markdown(result):
    runs = result["runs"]
    rows = setting_rows(runs)
    mlp_rows = {key: row for key, row in rows.items() if key[0] == "mlp"}
    other_rows = {key: row for key, row in rows.items() if key[0] != "mlp"}
    methods = result["methods"]
    models = bl.MODELS.relative_to(bl.REPO)
    lines = ["# Fusion quality (onnx-fuse)", "",
             bl.environment_markdown(result["environment"]),
             f"- protocol: MLP 784-256-10 parents `{models}/mlp_k{{K}}_p*.onnx` in file order"
             + (f", and the K = 2 pairs `{models}/{{set}}_p{{0,1}}.onnx` (sets below, same non-IID split)"
                if other_rows else "") + ","
             f" calibration `calib{{N}}_x.npy` with labels, accuracy on the held-out `test_x.npy`"
             f" (1500 images); `--seed {result['seed']}`; a column `method:importance` runs the method with"
             f" `--importance importance`, plain names use the default importance (deeplift); attributions"
             f" explain the logit of the calibration label"
             + (f"; extra options `{result['extraArgs']}`" if result["extraArgs"] else ""),
             "",
             "Test accuracy in %. Ensemble = mean of the parents' softmax outputs (a reference, not a fused"
             " model). Best fused result per row in bold.", ""]
    if mlp_rows:
        lines += table(mlp_rows, methods, lambda s, k, calib: f"K={k}, {calib} samples")
        lines += ["", "Each parent's test accuracy (%):", ""]
        lines += parent_lines(mlp_rows, lambda s, k: f"K={k}")
    if other_rows:
        if mlp_rows:
            lines.append("")
        lines += [f"## Other architectures, K={OTHER_K}", "",
                  "Parent pairs of `test-models/` (p0 is the template), same columns:", ""]
        lines += [f"- {s}: {OTHER_SETS.get(s, '')}" for s in dict.fromkeys(key[0] for key in other_rows)]
        lines += [""]
        lines += table(other_rows, methods, lambda s, k, calib: f"{s}, {calib} samples")
        lines += ["", "Each parent's test accuracy (%):", ""]
        lines += parent_lines(other_rows, lambda s, k: s)
    if any(row.get("inconsistent") for row in rows.values()):
        lines += ["", "Warning: parent or ensemble accuracies differed between methods of one setting (see JSON)."]
    lines += ["", "## Targets (BENCHMARKS.md)", "", "| setting | target | result |", "|---|---|---|"]
    for c in result["targets"]:
        lines.append(f"| {c['setting']} | {c['target']} | {verdict(c['pass'])} |")
    errors = [r for r in runs if "error" in r]
    if errors:
        lines += ["", "## Failed runs", ""]
        for r in errors:
            lines.append(f"- {label(r.get('set', 'mlp'), r['K'], r['calibration'])}, {r['method']}:"
                         f" exit {r['exitCode']}: " + r["error"].replace("\n", " / "))
    lines += ["", "Raw figures (every run, per-level fit error, timings): `quality.json.gz`.", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bl.add_common_options(parser)
    parser.add_argument("--sets", type=sets_option, default=SETS,
                        help="parent sets (default: " + ",".join(SETS) + "; mlp is K = 2, 4, 8 (--k),"
                        " the others K = 2 pairs)")
    parser.add_argument("--k", type=bl.csv_ints, default=[2, 4, 8],
                        help="parent counts of the mlp set (default 2,4,8)")
    parser.add_argument("--calibration", type=bl.csv_ints, default=[400, 5000],
                        help="calibration set sizes (default 400,5000)")
    parser.add_argument("--methods", type=bl.csv_strings, default=METHODS,
                        help="methods (default: " + ",".join(METHODS) + "; hf-linear runs for K=2 only)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    bl.check_cli(args)
    result = {"benchmark": "quality", "environment": bl.environment(args), "seed": args.seed,
              "extraArgs": args.extra_args,
              "methods": args.methods, "sets": args.sets, "runs": []}
    settings = [("mlp", k) for k in args.k if "mlp" in args.sets] \
        + [(s, OTHER_K) for s in args.sets if s != "mlp"]
    for set_name, k in settings:
        for calib in args.calibration:
            for method in args.methods:
                if method in K2_ONLY and k != 2:
                    continue
                bl.progress(f"quality: {label(set_name, k, calib)} samples, {method} ...")
                run = one_run(args, set_name, k, calib, method)
                if "error" in run:
                    bl.progress("  failed: " + run["error"].replace("\n", " / "))
                else:
                    bl.progress(f"  fused {pct(run['accuracy'].get('fused'))} % in {run['wallSeconds']} s")
                result["runs"].append(run)
    result["targets"] = targets(setting_rows(result["runs"]))
    bl.write_results(args.out_dir, "quality", result, markdown(result))
    return 1 if any("error" in r for r in result["runs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
