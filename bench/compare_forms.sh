#!/bin/bash
# One build, the grouping forms side by side on the 8 wide MLP parents that bench/run_scale.py builds
# (issue 11): the whole command, peak RSS and the report (stage timings, grouping costs) per form.
#   bench/compare_forms.sh JAR SCALE_DIR SAMPLES OUT_DIR [FORM ...]   (forms default: factor auto)
# SCALE_DIR is run_scale.py's --cache-dir (mlp-k8/p0..p7.onnx, data/calib_3x32x32_SAMPLES.npy).
set -euo pipefail
jar=$(realpath "$1"); dir=$2; samples=$3; out=$(realpath -m "$4"); shift 4
forms=("$@"); [ ${#forms[@]} -gt 0 ] || forms=(factor auto)
mkdir -p "$out"; cd "$dir"
parents=$(for i in 0 1 2 3 4 5 6 7; do printf 'mlp-k8/p%d.onnx ' $i; done)
for form in "${forms[@]}"; do
  echo "== $form $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
  /usr/bin/time -f "wall %e s, peak RSS %M KB, exit %x" nice java -Xmx6g -jar "$jar" $parents \
    --data data/calib_3x32x32_$samples.npy --seed 0 --no-check --grouping-form "$form" \
    --report "$out/$form.json" -o "$out/$form.onnx" --quiet 2>&1 | tail -2
  echo "   end $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
done
