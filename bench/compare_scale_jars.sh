#!/bin/bash
# Two builds side by side on the wide MLP cases that bench/run_scale.py builds (issue 11): for each
# case, the old jar then the new one, -Xmx6g, kf-linear defaults, wall time and peak RSS, reports
# (stage timings, grouping costs) and fused models kept in OUT_DIR for comparison.
#   bench/compare_scale_jars.sh OLD_JAR NEW_JAR SCALE_DIR SAMPLES OUT_DIR [CASE ...]  (cases: mlp-k2 mlp-k8)
set -euo pipefail
old=$(realpath "$1"); new=$(realpath "$2"); dir=$3; samples=$4; out=$(realpath -m "$5"); shift 5
cases=("$@"); [ ${#cases[@]} -gt 0 ] || cases=(mlp-k2 mlp-k8)
mkdir -p "$out"; cd "$dir"
for case in "${cases[@]}"; do
  parents=$(ls "$case"/p*.onnx | sort -V | tr '\n' ' ')
  for side in old new; do
    jar=$([ $side = old ] && echo "$old" || echo "$new")
    echo "== $case $side $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    /usr/bin/time -f "wall %e s, peak RSS %M KB, exit %x" nice java -Xmx6g -jar "$jar" $parents \
      --data data/calib_3x32x32_$samples.npy --seed 0 --no-check --report "$out/${case}_$side.json" \
      -o "$out/${case}_$side.onnx" --quiet 2>&1 | tail -1
  done
done
echo "end $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
