#!/usr/bin/env bash
# Runs every libcab test from a fresh Debian 12 clone:
#   1. installs dependencies, fetches and prepares the models and reference data;
#   2. builds (the CUDA backend is compiled too when nvcc is present) and runs the CPU suite,
#      the ABI checks and the cab tool's end-to-end test (CTest), then checks the compiled
#      tensor-core kernels' code for wgmma register hazards and spills (tools/ci/sass_checks.sh);
#   3. the language bindings and samples (C, C#, Go, Rust) against that build;
#   4. packaging: debs and RPMs, lintian, ABI compatibility, install / build-against / purge
#      (needs root: skipped with a notice otherwise);
#   5. rebuilds with AddressSanitizer + UndefinedBehaviorSanitizer and runs the suite again;
#   6. fuzzes the GGUF reader and model loader for 60 s, the tokenizers for 30 s and C API call
#      sequences for 60 s (tests/fuzz, clang + libFuzzer);
#   7. rebuilds with ThreadSanitizer and runs the CPU suite again (CTest, threads and soak too).
# GPU tests (tests/gpu) are part of the CTest suite when CUDA is built; without a GPU they
# report "skipped".
#   tools/test.sh            everything (what CI runs)
#   tools/test.sh --quick    steps 1-2 only
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
step "SASS checks of the tensor-core kernels"
tools/ci/sass_checks.sh build

if [ "$quick" -eq 0 ]; then
  step "bindings and samples"
  CAB_BUILD_DIR=build tools/ci/bindings_checks.sh

  if [ "$(id -u)" -eq 0 ]; then
    step "packaging and ABI"
    tools/ci/packaging_checks.sh build-packages
  else
    echo "packaging checks need root (dpkg -i): skipped"
  fi

  step "build (ASan + UBSan)"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAB_CUDA=OFF \
    -DCAB_SANITIZE=address,undefined -DCAB_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j"$jobs"
  step "tests (ASan + UBSan)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs"

  step "fuzz (gguf 60 s, tokenizer 30 s, api 60 s)"
  cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAB_CUDA=OFF -DCAB_FUZZ=ON \
    -DCAB_BUILD_BENCH=OFF -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
  cmake --build build-fuzz -j"$jobs" --target fuzz_gguf fuzz_tokenizer fuzz_api
  # Copies of the seeds: libFuzzer adds what it finds to its first corpus folder.
  rm -rf build-fuzz/run && mkdir -p build-fuzz/run
  cp -r build-fuzz/tests/fuzz/corpus/gguf build-fuzz/run/gguf
  cp -r build-fuzz/tests/fuzz/corpus/tokenizer build-fuzz/run/tokenizer
  cp -r build-fuzz/tests/fuzz/corpus/api build-fuzz/run/api
  build-fuzz/bin/fuzz_gguf -max_total_time=60 -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix=build-fuzz/run/ build-fuzz/run/gguf
  build-fuzz/bin/fuzz_tokenizer -max_total_time=30 -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix=build-fuzz/run/ build-fuzz/run/tokenizer
  build-fuzz/bin/fuzz_api -max_total_time=60 -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix=build-fuzz/run/ build-fuzz/run/api

  # The whole CPU suite under ThreadSanitizer (nothing left out); any report fails it.
  step "build (TSan)"
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAB_CUDA=OFF -DCAB_SANITIZE=thread \
    -DCAB_BUILD_BENCH=OFF >/dev/null
  cmake --build build-tsan -j"$jobs"
  step "tests (TSan)"
  TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-tsan --output-on-failure -j"$jobs"
fi
step "done"
