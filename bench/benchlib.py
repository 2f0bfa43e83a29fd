"""Shared helpers of the onnx-fuse benchmark scripts (Python 3 standard library only).

What every result file carries at the top (machine, date, commit), running the CLI and reading
its JSON report, medians, and writing results.
"""

import datetime
import gzip
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JAR = REPO / "fusion" / "target" / "onnx-fuse.jar"
MODELS = REPO / "test-models" / "models"
DATA = REPO / "test-models" / "data"
RESULTS = REPO / "bench" / "results"


def parents(k):
    """The K parents of the MLP set, in file order (p0 first: the CLI's template)."""
    return [MODELS / f"mlp_k{k}_p{i}.onnx" for i in range(k)]


def cli_prefix(args):
    """How to start the CLI: `java -jar JAR`, or --command (tests use a stand-in)."""
    if args.command:
        return shlex.split(args.command)
    return [args.java, "-jar", str(args.jar)]


def check_cli(args):
    """Fails early, with the fix, when the jar is missing."""
    if not args.command and not Path(args.jar).is_file():
        sys.exit(f"{args.jar} not found: build it first with `mvn -B -q package -DskipTests` in {REPO}")


def _read(path):
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _git(*argv):
    try:
        return subprocess.run(["git", "-C", str(REPO), *argv], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _java_version(java):
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
        return (out.stderr or out.stdout).splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def environment(args):
    """Machine, date and commit, for the top of every result file."""
    cpu_model = "unknown"
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    mem_kib = None
    match = re.search(r"^MemTotal:\s+(\d+) kB", _read("/proc/meminfo"), re.M)
    if match:
        mem_kib = int(match.group(1))
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    load = None
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "machine": {
            "nproc": usable,
            "cpuModel": cpu_model,
            "memoryGiB": round(mem_kib / 2**20, 1) if mem_kib else None,
            "kernel": platform.release(),
            "loadAverageAtStart": load,
        },
        "git": {"commit": _git("rev-parse", "HEAD") or "unknown",
                "dirty": bool(dirty)},
        "java": _java_version(args.java) if not args.command else "(--command " + args.command + ")",
        "cli": " ".join(cli_prefix(args)),
    }


def environment_markdown(env):
    m = env["machine"]
    commit = env["git"]["commit"][:12] + (" (with uncommitted changes)" if env["git"]["dirty"] else "")
    return "\n".join([
        f"- date: {env['date']}",
        f"- machine: {m['nproc']} cores, {m['cpuModel']}, {m['memoryGiB']} GiB memory, Linux {m['kernel']};"
        f" load average at start {m['loadAverageAtStart']}",
        f"- commit: {commit}",
        f"- java: {env['java']}",
        f"- command: `{env['cli']}`",
    ])


def run_cli(cmd, timeout, time_file=None):
    """Runs one command; returns (exit code, wall seconds, stdout, stderr). A timeout gives code None."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=str(REPO))
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        code = None
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = (e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")) \
            + f"\n(timed out after {timeout} s)"
    return code, time.perf_counter() - start, out, err


def tail(text, lines=5):
    return "\n".join(text.strip().splitlines()[-lines:])


def read_report(path):
    """The CLI's --report JSON, or None when it is missing or not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def write_results(out_dir, stem, data, markdown, quiet=False):
    """Writes {stem}.json.gz (the raw figures, gzip-compressed: the working tree travels to the GPU
    machine within 64 MiB) and {stem}.md."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw = (json.dumps(data, indent=2) + "\n").encode("utf-8")
    (out_dir / f"{stem}.json.gz").write_bytes(gzip.compress(raw, compresslevel=9, mtime=0))
    (out_dir / f"{stem}.md").write_text(markdown, encoding="utf-8")
    if not quiet:
        print(f"wrote {out_dir / (stem + '.json.gz')} and {out_dir / (stem + '.md')}")


def read_results(path):
    """A results file written by write_results (.json.gz), or an older plain .json."""
    data = Path(path).read_bytes()
    return json.loads(gzip.decompress(data) if str(path).endswith(".gz") else data)


def progress(message):
    print(message, file=sys.stderr, flush=True)


def add_common_options(parser):
    parser.add_argument("--jar", type=Path, default=DEFAULT_JAR, help="the CLI jar (default: %(default)s)")
    parser.add_argument("--java", default="java", help="java executable (default: %(default)s)")
    parser.add_argument("--command", help="run this instead of `java -jar JAR` (for testing the harness)")
    parser.add_argument("--out-dir", type=Path, default=RESULTS, help="where to write results (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per CLI run (default: %(default)s)")
    parser.add_argument("--extra-args", default="",
                        help="more CLI options for every fusion run, e.g. \"--threads 1\" (recorded in the results)")


def csv_ints(text):
    return [int(x) for x in text.split(",") if x.strip()]


def csv_strings(text):
    return [x.strip() for x in text.split(",") if x.strip()]


def method_options(method):
    """CLI options of a method column: "kf-linear:deeplift" -> --method kf-linear --importance deeplift;
    a third part sets the class weights ("kf-linear::confidence" -> --class-weights confidence with the
    default importance); a plain name runs with the CLI's defaults."""
    name, _, rest = method.partition(":")
    importance, _, class_weights = rest.partition(":")
    return (["--method", name] + (["--importance", importance] if importance else [])
            + (["--class-weights", class_weights] if class_weights else []))
