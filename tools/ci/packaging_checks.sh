#!/usr/bin/env bash
# Every packaging and ABI check, in order, on one build directory (reused between runs):
#   1. build_packages.sh  Release build with CAB_CUDA=OFF and debug info; the debs and RPMs
#   2. check_abi.sh       symbol list, released version nodes, abidiff, frozen 0.1.0 header
#   3. lint_packages.sh   lintian, control fields, rpm -qpi/-qpl/-qpR
#   4. install_test.sh    dpkg -i, build against the install (pkg-config, CMake), dpkg --purge
# Needs root (dpkg -i) and the Debian packages of tools/install_deps.sh. It leaves no package
# installed, whether it passes or fails. Ends with one summary line.
#   tools/ci/packaging_checks.sh [BUILD_DIR]          default BUILD_DIR: build-packages
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build-packages}"
start=$SECONDS

for tool in abidw abidiff lintian rpmbuild rpm dpkg-shlibdeps file cc cmake pkg-config python3; do
  command -v "$tool" > /dev/null ||
    { echo "packaging checks: $tool is missing: run tools/install_deps.sh"; exit 1; }
done

step() {
  local name="$1"
  shift
  printf '\n==== %s (%ds)\n' "$name" $((SECONDS - start))
  if ! "$@"; then
    echo "packaging checks: FAILED in $name after $((SECONDS - start))s"
    exit 1
  fi
}
step "build the packages" tools/ci/build_packages.sh "$build"
step "ABI checks" tools/ci/check_abi.sh "$build"
step "package inspection" tools/ci/lint_packages.sh "$build"
step "install test" tools/ci/install_test.sh --no-build "$build"

packages=$(find "$build/packages" -name '*.deb' -o -name '*.rpm' | wc -l)
symbols=$(wc -l < tests/abi/symbols.txt)
baseline=$(basename tests/abi/baseline/*.abi .abi)
echo "packaging checks: passed in $((SECONDS - start))s: $packages packages;" \
  "ABI: $symbols symbols as listed, compatible with $baseline, the 0.1.0 program runs;" \
  "$(cat "$build/lintian-summary.txt"); installed, built against, purged clean"
