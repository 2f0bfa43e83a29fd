#!/usr/bin/env python3
"""torchvision coverage: which architectures plan, and fuse with a permuted copy of themselves back
to themselves, and how long that takes.

    /usr/bin/python3 bench/torchvision/export_models.py /tmp/tv        # needs python3-torchvision
    mvn -B -q package -DskipTests && mvn -B -q test-compile -pl fusion
    python3 bench/torchvision/run_coverage.py /tmp/tv [--samples 64]

For every MODEL_opsetN.onnx in the folder: `onnx-fuse plan`, then a copy whose neurons are
permuted within every neuron space (BenchTools permute, the same function), then
`onnx-fuse MODEL COPY --data calib.npy -o fused.onnx` (timed, default importance), then the
largest difference between the fused model's and the model's outputs on eval.npy (held-out random
inputs). Writes bench/results/torchvision.{json,md}.
"""
import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import benchlib  # noqa: E402

TOOLS = "org.onnxfuse.fusion.testing.BenchTools"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", type=Path, help="folder written by export_models.py")
    ap.add_argument("--only", default="", help="comma-separated model file stems to run (default: all)")
    ap.add_argument("--samples", type=int, default=64, help="calibration samples (default: %(default)s)")
    ap.add_argument("--tolerance", type=float, default=1e-4,
                    help="max abs output difference, relative to max(1, max abs output), that counts as equal")
    ap.add_argument("--test-classes", type=Path, default=benchlib.REPO / "fusion" / "target" / "test-classes",
                    help="compiled test classes holding BenchTools (default: %(default)s)")
    benchlib.add_common_options(ap)
    args = ap.parse_args()
    benchlib.check_cli(args)
    test_classes = args.test_classes
    if not test_classes.is_dir():
        sys.exit(f"{test_classes} not found: run `mvn -B -q test-compile -pl fusion` first")
    tools = [args.java, "-cp", f"{args.jar}:{test_classes}", TOOLS]
    env = benchlib.environment(args)
    only = set(benchlib.csv_strings(args.only))
    rows = []
    failures = 0
    for model in sorted(args.models.glob("*_opset*.onnx")):
        if only and model.stem not in only:
            continue
        size = "224" if model.stem.split("_opset")[0] in ("vgg11", "vgg11_bn", "alexnet", "vit_b_16") else ""
        calib = args.models / f"calib{size}.npy"
        evaluation = args.models / f"eval{size}.npy"
        row = {"model": model.stem, "bytes": model.stat().st_size}
        benchlib.progress(f"{model.stem}: plan")
        code, secs, out, err = benchlib.run_cli(benchlib.cli_prefix(args) + ["plan", str(model)], args.timeout)
        row["plan"] = "ok" if code == 0 else benchlib.tail(err, 1)
        row["planSeconds"] = round(secs, 2)
        if code == 0:
            header = out.splitlines()[0]
            row["levels"] = int(header.rsplit(",", 1)[1].split()[0])
            spaces = [ln for ln in out.splitlines() if ln.startswith("    ") and ": " in ln and ", levels " in ln]
            row["spaces"] = len(spaces) if spaces else row["levels"]
            with tempfile.TemporaryDirectory() as tmp:
                copy = Path(tmp) / "permuted.onnx"
                fused = Path(tmp) / "fused.onnx"
                code, _, _, err = benchlib.run_cli(tools + ["permute", str(model), str(copy), "1"], args.timeout)
                if code != 0:
                    row["fuse"] = "permute failed: " + benchlib.tail(err, 1)
                else:
                    benchlib.progress(f"{model.stem}: fuse")
                    cmd = benchlib.cli_prefix(args) + [str(model), str(copy), "--data", str(calib), "--samples",
                                                       str(args.samples), "--seed", "0", "-q", "-o", str(fused)]
                    cmd += benchlib.csv_strings(args.extra_args.replace(" ", ","))
                    code, secs, out, err = benchlib.run_cli(cmd, args.timeout)
                    row["fuseSeconds"] = round(secs, 1)
                    row["warnings"] = [ln for ln in err.splitlines() if "warning" in ln and "importance" in ln]
                    if code != 0:
                        row["fuse"] = benchlib.tail(err, 1)
                    else:
                        code, _, out, err = benchlib.run_cli(tools + ["compare", str(model), str(fused),
                                                                      str(evaluation)], args.timeout)
                        fields = out.split()
                        diff = float(fields[1]) if code == 0 else None
                        row["maxAbsDifference"] = diff
                        row["maxAbsOutput"] = float(fields[3]) if code == 0 else None
                        scale = max(1.0, row["maxAbsOutput"] or 0.0)
                        row["fuse"] = "ok" if diff is not None and diff < args.tolerance * scale else "differs"
        if row.get("fuse") != "ok":
            failures += 1
        rows.append(row)
        benchlib.progress(f"{model.stem}: {row}")
    lines = ["# torchvision coverage", "", benchlib.environment_markdown(env), "",
             f"Untrained torchvision models (random BatchNorm statistics), fused with a copy of themselves whose"
             f" neurons are permuted within every neuron space; {args.samples} random calibration inputs, default"
             f" importance; difference measured on other random inputs (equal: below {args.tolerance:g} times"
             f" max(1, largest output)).", "",
             "| model | plan | levels | spaces | fuse | max abs difference (max abs output) | fusion time (s) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        diff = "" if r.get("maxAbsDifference") is None else \
            f"{r['maxAbsDifference']:.1e} ({r['maxAbsOutput']:.2g})"
        lines.append(f"| {r['model']} | {r['plan']} | {r.get('levels', '')} | {r.get('spaces', '')} |"
                     f" {r.get('fuse', '')} | {diff} | {r.get('fuseSeconds', '')} |")
    benchlib.write_results(args.out_dir, "torchvision", {"environment": env, "rows": rows}, "\n".join(lines) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
