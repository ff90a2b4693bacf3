#!/usr/bin/env bash
# On the GPU machine, from a checkout: builds cab_gpu_tests with the CUDA backend, runs the GPU
# suite (kernels and whole models against the CPU backend; SmolLM2 as a separate step), then
# compute-sanitizer: memcheck on the whole-model cases except SmolLM2, the full eviction matrix
# ([slow]; its short form runs every policy) and the device errors ([errors]: a deliberately
# failing cudaMalloc is an API error to the sanitizer); memcheck on the kernel suites; racecheck
# and synccheck on the small cases ([small]; racecheck of whole models takes minutes). Racecheck
# of the kernel suites (about 390 s on the H100) runs in a call of its own:
# CAB_GPU_RACECHECK=suites builds (or reuses the build) and runs only that.
# Prints a summary table last; exits non-zero when any step failed.
#   OUT=<dir> bash tools/gpu/run_gpu_tests.sh [build-dir]     (build-dir: default build-gpu)
#   CAB_GPU_SANITIZE=0 skips the compute-sanitizer steps. CAB_GPU_BUDGET_S (default 560) bounds
#   the whole run, so that the summary comes before the device tool's 10-minute limit: each step's
#   time limit is cut to what is left, and steps with no time left are SKIPPED (a rerun on the
#   warm machine reuses the build).
# Needs .carry/catch2 (tools/gpu/prepare_carry.sh; the machine has no Catch2) and the models in
# models/ (tools/gpu/assemble_models.sh, run here first, moves the carried ones there). A missing
# model fails its test case with a message saying how to get it.
# Logs in $OUT: build.log, gpu_tests.log, smollm2.log, memcheck.log, memcheck_kernels.log,
# racecheck.log, synccheck.log, models.log.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build-gpu}
OUT=${OUT:-$PWD/$BUILD/out}
BIN=$BUILD/bin/cab_gpu_tests
mkdir -p "$OUT"
# The last Catch2 totals line and compute-sanitizer's error count of a log.
step_detail() {
  {
    grep -E "^(All tests passed|test cases:)" "$1" | tail -1
    grep -E "ERROR SUMMARY" "$1" | tail -1 | sed 's/^=* *//'
  } | paste -sd ';' -
}
STEP_FAIL_PATTERN="FAILED|^========= (Invalid|Race|Error|Program hit)"
# shellcheck source=tools/gpu/steps.sh
. tools/gpu/steps.sh

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
if [ -f tools/gpu/assemble_models.sh ]; then
  bash tools/gpu/assemble_models.sh >"$OUT/models.log" 2>&1 || true
fi

build_step "build cab_gpu_tests" "$OUT/build.log" cab_gpu_tests

san=(compute-sanitizer --error-exitcode 9 --print-limit 20)
if [ "${CAB_GPU_RACECHECK:-}" = suites ]; then
  suites="[small],[kv],[elementwise_io],[elementwise],[generic]~[slow]"
  step "racecheck $suites" "$OUT/racecheck.log" 540 "${san[@]}" --tool racecheck "$BIN" "$suites"
  print_summary
  exit $status
fi

step "tests (all but SmolLM2)" "$OUT/gpu_tests.log" 180 "$BIN" "~[smollm2]" --durations yes
step "tests [smollm2]" "$OUT/smollm2.log" 90 "$BIN" "[smollm2]" --durations yes

if [ "${CAB_GPU_SANITIZE:-1}" != 0 ]; then
  memcheck_cases="[model]~[smollm2]~[slow]~[errors]"
  step "memcheck $memcheck_cases" "$OUT/memcheck.log" 200 \
    "${san[@]}" --tool memcheck "$BIN" "$memcheck_cases"
  # The kernel suites; [backend] holds the deliberate failed cudaMalloc of the out-of-memory
  # test, which memcheck reports as an API error, so it runs without it.
  kernels="[kv],[elementwise_io],[elementwise],[argmax],[strides],[weights],[graphs],[generic],[small]"
  step "memcheck kernels" "$OUT/memcheck_kernels.log" 150 \
    "${san[@]}" --tool memcheck "$BIN" "$kernels"
  step "racecheck [small]" "$OUT/racecheck.log" 200 "${san[@]}" --tool racecheck "$BIN" "[small]"
  step "synccheck [small]" "$OUT/synccheck.log" 60 "${san[@]}" --tool synccheck "$BIN" "[small]"
fi

print_summary
exit $status
