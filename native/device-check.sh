#!/usr/bin/env bash
# The device check, one command from the project root on a GPU machine, using the kit that
# native/device-prepare.sh built here (.device-kit/kit.tar.xz; the machine needs no JDK or Maven):
#   1. environment: nvidia-smi, `onnx-fuse diagnose`
#   2. the gpu-tagged tests (CPU vs CUDA agreement of every kernel, the batched K-means restarts and
#      the optimiser steps bit for bit, end-to-end checks)
#   3. the kernel benchmark (rates against a copy and a float64 gemm ceiling measured here; K-means
#      restarts batched vs one after another vs CPU; Adam/SGD steps through the API and kernel only)
#   4. end-to-end fusion, CPU backend vs CUDA backend, on bundled models with 5000 samples (skipped
#      with a core kit, which has no ONNX Runtime native library: see device-prepare.sh)
#   5. compute-sanitizer memcheck and racecheck on every kernel (SanitizerWorkloadTest)
# Logs go to $OUT (or ./device-out when OUT is unset); a short table is printed last.
# Without a usable GPU it stops after step 1, saying why, with exit code 3
# (DEVICE_CHECK_WITHOUT_GPU=1 runs every step anyway, to check this script on a CPU machine).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${OUT:-$root/device-out}
mkdir -p "$out"
log=$out/device-check.log
summary=$out/summary.md
: > "$log"
: > "$summary"
say() { echo "$*" | tee -a "$log"; }
# The whole check keeps within DEVICE_CHECK_BUDGET_S seconds (default 420): each step's timeout
# is capped by what is left, and a step with under 20 s left is skipped and says so.
began=$(date +%s)
budget=${DEVICE_CHECK_BUDGET_S:-420}
limit() { # limit WANTED: prints min(WANTED, seconds left - 10), or 1 when under 20 s are left
  local left=$(( budget - ($(date +%s) - began) ))
  if [ "$left" -lt 20 ]; then echo 1; elif [ "$1" -lt $(( left - 10 )) ]; then echo "$1"; else echo $(( left - 10 )); fi
}
row() { echo "$*" >> "$summary"; }

kit_archive=$root/.device-kit/kit.tar.xz
if [ ! -f "$kit_archive" ]; then
  say "device-check: $kit_archive not found: run native/device-prepare.sh on a machine with a JDK first and carry .device-kit"
  exit 2
fi
work=$(mktemp -d /tmp/onnx-fuse-device.XXXXXX)
trap 'rm -rf "$work"' EXIT
if command -v xz >/dev/null 2>&1; then
  xz -dc "$kit_archive" | tar -C "$work" -xf -
else
  python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$kit_archive" "$work"
fi
kit=$work/kit
java=$kit/jre/bin/java
# JCuda loads libcuda.so.1 by name: make sure the loader finds the driver's copy.
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1'; then
  for dir in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/local/cuda/compat; do
    if [ -e "$dir/libcuda.so.1" ]; then
      export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      break
    fi
  done
fi
classpath=$kit/test-classes/kernels:$kit/test-classes/fusion:$kit/onnx-fuse.jar
mode=$(cat "$kit/MODE" 2>/dev/null || echo full)
say "device-check: $mode kit built from $(cat "$kit/COMMIT"), $(date -u +%FT%TZ)"
# A core kit has no ONNX Runtime native library (device-prepare.sh: the full kit did not fit beside
# the working tree): the steps that run ONNX Runtime are skipped and say so.
without_ort=()
if [ "$mode" = core ]; then
  say "device-check: core kit: CudaFusionTest and the end-to-end fusion (ONNX Runtime) are skipped"
  without_ort=(--exclude-classname 'org\.onnxfuse\.fusion\.pipeline\.CudaFusionTest')
fi

# 1. Environment
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv 2>&1 || echo "nvidia-smi failed"; } \
    | tee -a "$log"
"$java" -jar "$kit/onnx-fuse.jar" diagnose 2>&1 | tee -a "$log" > "$work/diagnose.txt"
if ! grep -q "cuda: available" "$work/diagnose.txt" && [ "${DEVICE_CHECK_WITHOUT_GPU:-0}" != 1 ]; then
  reason=$(grep "cuda:" "$work/diagnose.txt" || echo "diagnose gave no cuda line")
  say "device-check: no usable GPU here ($reason): the kit runs; the GPU steps need a CUDA machine"
  exit 3
fi
row "| step | result |"
row "|---|---|"
row "| device | $(grep -o 'GPU 0: [^;]*' "$work/diagnose.txt" | head -1) |"

# 2. GPU tests
say "device-check: gpu tests"
start=$(date +%s)
timeout "$(limit 200)" "$java" -Donnxfuse.testModels="$root/test-models" -jar "$kit/junit-console.jar" execute \
    --class-path "$classpath" --disable-banner --disable-ansi-colors --details=tree --include-tag gpu \
    --scan-class-path "$kit/test-classes/kernels:$kit/test-classes/fusion" --reports-dir "$work/junit" \
    "${without_ort[@]}" > "$work/gpu-tests.txt" 2>&1
tests_rc=$?
cat "$work/gpu-tests.txt" >> "$log"
counts=$(grep -E "tests (successful|failed|skipped|aborted)" "$work/gpu-tests.txt" | tr -s ' ' | tr '\n' ',')
row "| gpu tests (exit $tests_rc, $(( $(date +%s) - start )) s) | ${counts:-no summary: see device-check.log} |"
cp "$work/junit/TEST-junit-jupiter.xml" "$out/gpu-tests.xml" 2>/dev/null || true

# 3. Kernel benchmark
say "device-check: kernel benchmark"
start=$(date +%s)
timeout "$(limit 120)" "$java" -cp "$classpath" org.onnxfuse.kernels.KernelBenchmark "$out" >> "$log" 2>&1
row "| kernel benchmark (exit $?, $(( $(date +%s) - start )) s) | kernels.md |"

# 4. End-to-end fusion, CPU vs CUDA backend
say "device-check: end-to-end fusion"
models=$root/test-models/models
data=$root/test-models/data
e2e=$out/end-to-end.md
echo "| case | backend | wall s | fuse s | statistics s | grouping s | solve s | fused accuracy % |" > "$e2e"
echo "|---|---|---|---|---|---|---|---|" >> "$e2e"
fuse_case() { # fuse_case NAME DEVICE PARENTS...
  local name=$1 device=$2
  shift 2
  local report=$work/$name-$device.json
  local t0 t1
  t0=$(date +%s.%N)
  local seconds
  seconds=$(limit 60)
  if [ "$seconds" -le 1 ]; then
    echo "| $name | $device | skipped: the check's time budget is spent | | | | | |" >> "$e2e"
    return
  fi
  timeout "$seconds" "$java" -jar "$kit/onnx-fuse.jar" "$@" --data "$data/calib5000_x.npy" --labels "$data/calib5000_y.npy" \
      --eval-data "$data/test_x.npy" --eval-labels "$data/test_y.npy" --seed 0 --device "$device" \
      -o "$work/$name-$device.onnx" --report "$report" >> "$log" 2>&1
  local rc=$?
  t1=$(date +%s.%N)
  python3 - "$report" "$name" "$device" "$t0" "$t1" "$rc" >> "$e2e" <<'EOF'
import json, sys
path, name, device, t0, t1, rc = sys.argv[1:]
wall = float(t1) - float(t0)
try:
    r = json.load(open(path))
    t = r["timings"]
    print(f"| {name} | {device} | {wall:.1f} | {t['fuse_ms'] / 1e3:.1f} | {t['statistics_ms'] / 1e3:.1f} | "
          f"{t['grouping_ms'] / 1e3:.1f} | {t['solve_ms'] / 1e3:.1f} | {100 * r['accuracy']['fused']:.2f} |")
except Exception as e:
    print(f"| {name} | {device} | {wall:.1f} | failed (exit {rc}): {type(e).__name__} | | | | |")
EOF
}
start=$(date +%s)
if [ "$mode" = core ]; then
  echo "| all | - | skipped: core kit without ONNX Runtime | | | | | |" >> "$e2e"
  row "| end-to-end fusion | skipped: core kit without ONNX Runtime |"
else
  for device in cpu cuda; do
    fuse_case cnn-vgg "$device" "$models/vgg_p0.onnx" "$models/vgg_p1.onnx"
  done
  for device in cpu cuda; do
    fuse_case resnet "$device" "$models/dag/resnet_p0.onnx" "$models/dag/resnet_p1.onnx"
  done
  for device in cpu cuda; do
    fuse_case mlp-8-parents "$device" "$models"/mlp_k8_p{0,1,2,3,4,5,6,7}.onnx
  done
  row "| end-to-end fusion ($(( $(date +%s) - start )) s) | end-to-end.md |"
fi

# 5. compute-sanitizer on SanitizerWorkloadTest: every kernel once at small sizes (racecheck slows
# kernels by orders of magnitude); it works on some GPU machines and not on others
sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
if [ -z "$sanitizer" ]; then
  row "| compute-sanitizer | not installed |"
else
  for tool in memcheck racecheck; do
    say "device-check: compute-sanitizer $tool"
    start=$(date +%s)
    seconds=$(limit 90)
    if [ "$seconds" -le 1 ]; then
      row "| compute-sanitizer $tool | skipped: the check's time budget is spent |"
      continue
    fi
    timeout "$seconds" "$sanitizer" --tool "$tool" --error-exitcode 99 --log-file "$work/sanitizer-$tool.txt" \
        "$java" -Donnxfuse.testModels="$root/test-models" -jar "$kit/junit-console.jar" execute \
        --class-path "$classpath" --disable-banner --disable-ansi-colors --details=summary \
        --select-class org.onnxfuse.kernels.SanitizerWorkloadTest > "$work/sanitizer-$tool-junit.txt" 2>&1
    rc=$?
    cat "$work/sanitizer-$tool-junit.txt" >> "$log" 2>/dev/null
    head -c 2000000 "$work/sanitizer-$tool.txt" >> "$log" 2>/dev/null
    errors=$(grep -o -E "(ERROR SUMMARY: [0-9]+ errors?|RACECHECK SUMMARY: .*)" "$work/sanitizer-$tool.txt" 2>/dev/null | tail -1)
    tests=$(grep -o -E "[0-9]+ tests successful" "$work/sanitizer-$tool-junit.txt" | tr -s ' ')
    row "| compute-sanitizer $tool (exit $rc, $(( $(date +%s) - start )) s) | ${errors:-no summary (exit 124 = timed out)}; ${tests:-no test summary} |"
  done
fi

echo
cat "$out/kernels.md" 2>/dev/null
echo
cat "$e2e"
echo
cat "$summary"
