#!/usr/bin/env bash
# Compiles every src/main/cuda/*.cu to PTX (compute_90, JIT-compiled by the driver on any newer
# GPU) and to a fatbin (sm_90 machine code + the same PTX) into the given output folder, which
# Maven packs into the native jar as /org/onnxfuse/native/<name>.{ptx,fatbin}.
# Usage: build-kernels.sh NVCC SOURCE_DIR OUTPUT_DIR
# Skips a kernel whose outputs are newer than its source; fails the build on any nvcc error or
# when a PTX file has no kernel entry point.
set -euo pipefail
nvcc="$1"
src_dir="$2"
out_dir="$3"
mkdir -p "$out_dir"
shopt -s nullglob
sources=("$src_dir"/*.cu)
if [ ${#sources[@]} -eq 0 ]; then
  echo "[native] no CUDA sources in $src_dir" >&2
  exit 1
fi
for cu in "${sources[@]}"; do
  name="$(basename "$cu" .cu)"
  ptx="$out_dir/$name.ptx"
  fatbin="$out_dir/$name.fatbin"
  if [ "$ptx" -nt "$cu" ] && [ "$fatbin" -nt "$cu" ]; then
    continue
  fi
  # No fast-math: the statistics must stay exact float64 arithmetic.
  "$nvcc" -ptx -arch=compute_90 -O3 -std=c++17 -o "$ptx.tmp" "$cu"
  "$nvcc" -fatbin -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
      -O3 -std=c++17 -o "$fatbin.tmp" "$cu"
  entries="$(grep -c '^\.visible \.entry ' "$ptx.tmp" || true)"
  if [ "$entries" -eq 0 ]; then
    echo "[native] $ptx.tmp has no .entry: nothing to launch" >&2
    exit 1
  fi
  mv "$ptx.tmp" "$ptx"
  mv "$fatbin.tmp" "$fatbin"
  echo "[native] built $name.ptx ($entries kernels) and $name.fatbin with nvcc $("$nvcc" --version | grep -o 'release [0-9.]*')"
done
