#!/usr/bin/env bash
# On the GPU machine, from a checkout: the soak of docs/RELIABILITY.md on the GPU. Builds
# cab_soak with the CUDA backend (same configuration and build folder as run_gpu_tests.sh, so a
# warm machine reuses that build), then
#   1. soak: cab_soak on SmolLM2-135M on cuda for CAB_SOAK_TOKENS (default 100,000) tokens with
#      automatic eviction; fails when KV bytes or RSS grow (JSON: $OUT/soak_smollm2_cuda.json);
#   2. memcheck: shorter runs under compute-sanitizer memcheck with --leak-check full, failing on
#      any error it reports: stories260K on cuda for CAB_SOAK_SANITIZE_TOKENS (default 2,000)
#      tokens, SmolLM2 for CAB_SOAK_SANITIZE_SMOLLM2_TOKENS (default 400).
# Prints a summary table last; exits non-zero when any step failed.
#   OUT=<dir> bash tools/gpu/soak_gpu.sh [build-dir] [all|soak|memcheck]   (default build-gpu all)
# CAB_GPU_BUDGET_S (default 560) bounds the whole run, so that the summary comes before the
# device tool's 10-minute limit; a step with no time left is SKIPPED: on a cold machine, run
# `soak` and `memcheck` as two calls (the second reuses the build).
# Needs .carry/catch2 and both models in models/ as run_gpu_tests.sh does.
# Logs in $OUT: soak_build.log, soak.log, soak_memcheck.log, soak_memcheck_smollm2.log.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build-gpu}
WHICH=${2:-all}
OUT=${OUT:-$PWD/$BUILD/out}
BIN=$BUILD/bin/cab_soak
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
TOKENS=${CAB_SOAK_TOKENS:-100000}
SAN_TOKENS=${CAB_SOAK_SANITIZE_TOKENS:-2000}
SAN_SMOL_TOKENS=${CAB_SOAK_SANITIZE_SMOLLM2_TOKENS:-400}
mkdir -p "$OUT"
step_detail() {
  grep -E "PASSED|FAILED|ERROR SUMMARY|tokens/s" "$1" | sed 's/^=* *//' | tail -3 | paste -sd ';' -
}
STEP_FAIL_PATTERN="FAIL|^========= (Invalid|Leaked|Error|Program hit)"
# shellcheck source=tools/gpu/steps.sh
. tools/gpu/steps.sh

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
if [ -f tools/gpu/assemble_models.sh ]; then
  bash tools/gpu/assemble_models.sh >"$OUT/models.log" 2>&1 || true
fi
if [ ! -f "$MODEL" ]; then
  echo "soak_gpu: $MODEL is missing: carry it (tools/gpu/prepare_carry.sh --part 1, 2, ...)"
  exit 1
fi

build_step "build cab_soak" "$OUT/soak_build.log" cab_soak

if [ "$WHICH" = all ] || [ "$WHICH" = soak ]; then
  step "soak $TOKENS tokens (cuda)" "$OUT/soak.log" 420 \
    "$BIN" -m "$MODEL" --device cuda --tokens "$TOKENS" --json "$OUT/soak_smollm2_cuda.json"
  tail -7 "$OUT/soak.log"
fi

if [ "$WHICH" = all ] || [ "$WHICH" = memcheck ]; then
  # memcheck slows every kernel launch by orders of magnitude: stories260K (5 layers) makes the
  # long sanitized run, SmolLM2 (30 layers) a short one that still has evictions after the
  # warm-up. RSS is left to the full run: the sanitizer's bookkeeping lives in the process, so
  # the tolerance here is wide. --every keeps the warm-up (two eviction cycles) on a sample.
  san=(compute-sanitizer --tool memcheck --leak-check full --error-exitcode 9 --print-limit 20)
  step "memcheck stories260K $SAN_TOKENS tokens" "$OUT/soak_memcheck.log" 300 \
    "${san[@]}" "$BIN" -m models/stories260K.gguf --device cuda --tokens "$SAN_TOKENS" \
    --every 100 --rss-tolerance-mib 256 --json "$OUT/soak_stories260K_cuda_memcheck.json"
  step "memcheck SmolLM2 $SAN_SMOL_TOKENS tokens" "$OUT/soak_memcheck_smollm2.log" 300 \
    "${san[@]}" "$BIN" -m "$MODEL" --device cuda --tokens "$SAN_SMOL_TOKENS" --every 50 \
    --rss-tolerance-mib 256 --json "$OUT/soak_smollm2_cuda_memcheck.json"
fi

print_summary
exit $status
