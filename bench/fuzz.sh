#!/bin/sh
# Coverage-guided fuzzing of one target with Jazzer (bench/README.md, "Fuzzing").
#   bench/fuzz.sh TARGET [EXECUTIONS] [MAX_DURATION]
# TARGET: reader (OnnxReader), planner (read + fold + plan + print), npy (.npy header and
# decoding), npz (.npz archive). EXECUTIONS defaults to 1000000, MAX_DURATION (a cap, Jazzer's
# syntax: 30m, 2h) to 3h. Run from the repository root after `mvn -B -q test-compile` (or any
# build). Findings are written to the target's ...FuzzTestInputs/<method>/ seed folder (so the
# replay in `mvn test` runs them from then on) and the run fails; the corpus grown while fuzzing
# stays in <module>/.cifuzz-corpus/ (git-ignored). The libFuzzer log is in target/fuzz-TARGET.log.
set -eu
target=${1:?usage: bench/fuzz.sh reader|planner|npy|npz [EXECUTIONS] [MAX_DURATION]}
executions=${2:-1000000}
duration=${3:-3h}
case "$target" in
  reader)  module=onnx-io; test=OnnxReaderFuzzTest ;;
  planner) module=fusion;  test=LevelPlannerFuzzTest ;;
  npy)     module=fusion;  test=NpyFormatFuzzTest ;;
  npz)     module=fusion;  test=NpzArchiveFuzzTest ;;
  *) echo "unknown target '$target'; expected reader, planner, npy or npz" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
mkdir -p target
log=target/fuzz-$target.log
echo "fuzzing $test ($module) for $executions executions or $duration; log: $log"
# JUnit does not time the whole run: Jazzer turns each test's @Timeout into the per-input limit (-timeout).
# -Xmx: no input of 64 KiB may legitimately need more (constant folding computes at most 256 MiB,
# 16 M elements per node); OutOfMemoryError is then a finding.
JAZZER_FUZZ=1 nice mvn -B -o test -pl "$module" -am -Dtest="$test" -Dsurefire.failIfNoSpecifiedTests=false \
  -Djazzer.hooks=true \
  -DargLine="-Xmx2g -XX:+UseParallelGC -XX:-OmitStackTraceInFastThrow -Djunit.jupiter.execution.timeout.mode=disabled -Djazzer.max_executions=$executions -Djazzer.max_duration=$duration" \
  >"$log" 2>&1 && status=0 || status=$?
grep -E '^#[0-9]+ +(DONE|pulse|NEW|REDUCE)|exec/s|Done [0-9]+ runs|== Java Exception|FuzzerSecurityIssue|Tests run:.*Fail' "$log" | tail -n 5
exit $status
