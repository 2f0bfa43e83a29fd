#!/usr/bin/env bash
# Builds everything the GPU machine needs into one ignored folder, .device-kit/, for
# native/device-check.sh to run there. That machine has nvcc, compute-sanitizer and Python but no
# JDK, no Maven and no network, and what travels to it (working tree + carried folder) is at most
# 64 MiB, so the kit is one xz-compressed tar of:
#   jre/            a jlink runtime with only the modules the tool and the tests use
#   onnx-fuse.jar   the shaded jar (with the CUDA kernels of native/, built here by nvcc)
#   test-classes/   the kernels and fusion test classes (the gpu-tagged tests, the benchmark)
#   junit-console.jar  the JUnit console launcher, matching the project's JUnit version
# Usage (project root, needs a JDK 17+, Maven and nvcc): native/device-prepare.sh
# MAVEN_ARGS (optional) is added to every mvn call, e.g. MAVEN_ARGS="-o -Dmaven.repo.local=/tmp/m2"
# for an offline build against another local repository (Maven 3.9+ reads it itself as well;
# Maven 3.8 does not, hence it is passed on here).
# Then carry .device-kit to the GPU machine and run native/device-check.sh there.
set -euo pipefail
cd "$(dirname "$0")/.."

kit_dir=.device-kit
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
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
python3 - fusion/target/onnx-fuse.jar "$staging/kit/onnx-fuse.jar" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as source, zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_STORED) as target:
    for entry in source.infolist():
        target.writestr(entry, source.read(entry.filename), compress_type=zipfile.ZIP_STORED)
PY
for module in kernels fusion; do
  mkdir -p "$staging/kit/test-classes/$module"
  cp -r "$module/target/test-classes/." "$staging/kit/test-classes/$module/"
done
git rev-parse --short HEAD > "$staging/kit/COMMIT" 2>/dev/null || echo unknown > "$staging/kit/COMMIT"
if ! git diff --quiet 2>/dev/null; then
  echo "$(cat "$staging/kit/COMMIT") + uncommitted changes" > "$staging/kit/COMMIT"
fi

echo "device-prepare: compressing"
mkdir -p "$kit_dir"
rm -f "$kit_dir/kit.tar.xz"
tar -C "$staging" -cf - kit | xz -6 -T0 > "$kit_dir/kit.tar.xz.part"
mv "$kit_dir/kit.tar.xz.part" "$kit_dir/kit.tar.xz"

kit_bytes=$(stat -c %s "$kit_dir/kit.tar.xz")
tree_bytes=$( (git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null || true) \
    | awk '{s += $1} END {print s + 0}')
total=$((kit_bytes + tree_bytes))
printf 'device-prepare: kit %.1f MiB + working tree %.1f MiB = %.1f MiB of the 64 MiB that may travel\n' \
    "$(echo "$kit_bytes / 1048576" | bc -l)" "$(echo "$tree_bytes / 1048576" | bc -l)" \
    "$(echo "$total / 1048576" | bc -l)"
if [ "$total" -gt "$limit_bytes" ]; then
  echo "device-prepare: too large to travel: $total bytes, expected at most $limit_bytes" >&2
  exit 1
fi
echo "device-prepare: ready; on the GPU machine run: native/device-check.sh (carrying $kit_dir)"
