#!/usr/bin/env bash
# Builds everything the GPU machine needs into one ignored folder, .device-kit/, for
# native/device-check.sh to run there. That machine has nvcc, compute-sanitizer and Python but no
# JDK, no Maven and no network, and what travels to it (working tree + carried folder) is at most
# 64 MiB, so the kit is one xz-compressed tar of:
#   jre/            a jlink runtime with only the modules the tool and the tests use
#   onnx-fuse.jar   the shaded jar (with the CUDA kernels of native/, built here by nvcc)
#   test-classes/   the kernels and fusion test classes (the gpu-tagged tests, the benchmark)
#   junit-console.jar  the JUnit console launcher, matching the project's JUnit version
#   MODE            "full", or "core" for a kit without ONNX Runtime's native library (below)
# The kit is xz-compressed with the x86 filter (most of it is native code); libjvm.so loses its
# symbol table. DEVICE_KIT=auto (default) makes the full kit and, when it does not fit beside the
# working tree, the core kit: the jar without ai/onnxruntime/native (8 MB compressed) and
# JFreeChart, which the GPU tests, the benchmark and diagnose do not need; device-check.sh then skips
# the end-to-end fusion and CudaFusionTest, the only steps that run ONNX Runtime. DEVICE_KIT=full or
# core forces one.
# Usage (project root, needs a JDK 17+, Maven and nvcc): native/device-prepare.sh
# MAVEN_ARGS (optional) is added to every mvn call, e.g. MAVEN_ARGS="-o -Dmaven.repo.local=/tmp/m2"
# for an offline build against another local repository (Maven 3.9+ reads it itself as well;
# Maven 3.8 does not, hence it is passed on here).
# Then carry .device-kit to the GPU machine and run native/device-check.sh there.
set -euo pipefail
cd "$(dirname "$0")/.."

kit_dir=.device-kit
staging=$(mktemp -d)
trap 'rm -rf "$staging" "$kit_dir/kit.tar.xz.part"' EXIT
limit_bytes=$((64 * 1024 * 1024))
read -r -a maven_args <<< "${MAVEN_ARGS:-}"
mvn() { command mvn "${maven_args[@]}" "$@"; }

if [ ! -x /usr/local/cuda/bin/nvcc ] && ! command -v nvcc >/dev/null 2>&1; then
  echo "device-prepare: nvcc not found: the jar would carry no CUDA kernels; install the CUDA toolkit (nvcc 13) first" >&2
  exit 1
fi

echo "device-prepare: building (mvn package, tests compiled, not run)"
mvn -B -q -Dstyle.color=never package -DskipTests

junit_version=$(mvn -B -q -Dstyle.color=never help:evaluate -Dexpression=junit.version -DforceStdout 2>/dev/null | sed "s/\x1b\[[0-9;]*m//g" || true)
if [[ ! "$junit_version" =~ ^5\.([0-9]+)\.([0-9]+)$ ]]; then
  echo "device-prepare: could not read the JUnit version from the POM (found '$junit_version')" >&2
  exit 1
fi
platform_version="1.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
mvn -B -q -Dstyle.color=never dependency:copy -Dartifact="org.junit.platform:junit-platform-console-standalone:$platform_version" \
    -DoutputDirectory="$staging/kit" -Dmdep.stripVersion=true
mv "$staging/kit/junit-platform-console-standalone.jar" "$staging/kit/junit-console.jar"

# The modules jdeps finds in the shaded jar and the console launcher; java.desktop (only
# Jackson's optional java.beans support) is left out to save 14 MB.
modules=java.base,java.logging,java.management,java.sql,java.xml,jdk.management,jdk.unsupported,jdk.zipfs
echo "device-prepare: jlink runtime ($modules)"
jlink --add-modules "$modules" --strip-debug --no-man-pages --no-header-files --output "$staging/kit/jre"

# Stored (uncompressed) entries, so that xz compresses the native libraries inside: 20 MB less.
# store_jar [PREFIX...]: the shaded jar without the entries under any PREFIX. (JCuda stays whole:
# its driver binding needs classes of its runtime package.)
store_jar() {
  python3 - fusion/target/onnx-fuse.jar "$staging/kit/onnx-fuse.jar" "$@" <<'PY'
import sys, zipfile
drop = tuple(sys.argv[3:])
with zipfile.ZipFile(sys.argv[1]) as source, zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_STORED) as target:
    for entry in source.infolist():
        if drop and entry.filename.startswith(drop):
            continue
        target.writestr(entry, source.read(entry.filename), compress_type=zipfile.ZIP_STORED)
PY
}
# The core kit runs no fusion: no ONNX Runtime natives, no charts for HTML reports (JFreeChart).
core_drops=(ai/onnxruntime/native/ org/jfree/)
# Only the dynamic symbols are needed to run; the symbol table is 4 MB (1.2 MB compressed).
if command -v strip >/dev/null 2>&1; then
  strip --strip-unneeded "$staging/kit/jre/lib/server/libjvm.so"
fi
for module in kernels fusion; do
  mkdir -p "$staging/kit/test-classes/$module"
  cp -r "$module/target/test-classes/." "$staging/kit/test-classes/$module/"
done
git rev-parse --short HEAD > "$staging/kit/COMMIT" 2>/dev/null || echo unknown > "$staging/kit/COMMIT"
if ! git diff --quiet 2>/dev/null; then
  echo "$(cat "$staging/kit/COMMIT") + uncommitted changes" > "$staging/kit/COMMIT"
fi

tree_bytes=$( (git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null || true) \
    | awk '{s += $1} END {print s + 0}')
mib() { echo "$1 / 1048576" | bc -l; }
mkdir -p "$kit_dir"
rm -f "$kit_dir/kit.tar.xz"
# pack MODE: compresses the staged kit as MODE; prints its size and whether it fits (exit 0 if so)
pack() {
  echo "$1" > "$staging/kit/MODE"
  echo "device-prepare: compressing the $1 kit (xz, x86 filter, a few minutes)"
  tar -C "$staging" -cf - kit | xz --x86 --lzma2=preset=9e,dict=192MiB > "$kit_dir/kit.tar.xz.part"
  kit_bytes=$(stat -c %s "$kit_dir/kit.tar.xz.part")
  total=$((kit_bytes + tree_bytes))
  printf 'device-prepare: %s kit %.1f MiB + working tree %.1f MiB = %.1f MiB of the 64 MiB that may travel\n' \
      "$1" "$(mib "$kit_bytes")" "$(mib "$tree_bytes")" "$(mib "$total")"
  [ "$total" -le "$limit_bytes" ]
}
mode=${DEVICE_KIT:-auto}
case "$mode" in
  auto|full)
    store_jar
    if ! pack full; then
      if [ "$mode" = full ]; then
        echo "device-prepare: the full kit is too large to travel: $total bytes, expected at most $limit_bytes" >&2
        exit 1
      fi
      echo "device-prepare: the full kit does not fit; the core kit leaves out ONNX Runtime's native library"
      store_jar "${core_drops[@]}"
      pack core || { echo "device-prepare: too large to travel: $total bytes, expected at most $limit_bytes" >&2; exit 1; }
    fi
    ;;
  core)
    store_jar "${core_drops[@]}"
    pack core || { echo "device-prepare: too large to travel: $total bytes, expected at most $limit_bytes" >&2; exit 1; }
    ;;
  *)
    echo "device-prepare: DEVICE_KIT must be auto, full or core, found '$mode'" >&2
    exit 1
    ;;
esac
mv "$kit_dir/kit.tar.xz.part" "$kit_dir/kit.tar.xz"
echo "device-prepare: ready ($(cat "$staging/kit/MODE") kit); on the GPU machine run: native/device-check.sh (carrying $kit_dir)"
