#!/usr/bin/env bash
# Runs every libcab test from a fresh Debian 12 clone: installs dependencies, fetches and prepares
# the models, builds (with the CUDA backend compiled when nvcc is present), runs the CPU test
# suite, then rebuilds with AddressSanitizer + UndefinedBehaviorSanitizer and runs it again.
#   tools/test.sh            everything (what CI runs)
#   tools/test.sh --quick    skip the sanitizer build
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
jobs=$(nproc)

step() { printf '\n== %s (%ds)\n' "$1" "$SECONDS"; }

step "dependencies"
tools/install_deps.sh
step "models and reference data"
tools/prepare_models.sh

step "build (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
step "tests (Release)"
ctest --test-dir build --output-on-failure -j"$jobs"

if [ "$quick" -eq 0 ]; then
  step "build (ASan + UBSan)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAB_CUDA=OFF \
    -DCAB_SANITIZE=address,undefined >/dev/null
  cmake --build build-asan -j"$jobs"
  step "tests (ASan + UBSan)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs"
fi
step "all tests passed"
