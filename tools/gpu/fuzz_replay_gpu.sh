#!/usr/bin/env bash
# On the GPU machine, from a checkout: replays fuzz_api's inputs on CUDA contexts
# (docs/RELIABILITY.md, "Replaying on the GPU"). Builds fuzz_api_replay in the CUDA build
# (same configuration and build folder as run_gpu_tests.sh, plus -DCAB_FUZZ_REPLAY=ON, so a warm
# machine reuses that build), then with CAB_FUZZ_DEVICE=cuda runs every input of the regression
# inputs (tests/fuzz/corpus/api), the generated seeds and CORPUS_DIR (a grown corpus carried from
# the CPU machine, e.g. .carry-fuzz/api):
#   1. replay: all of them, plainly;
#   2. memcheck: the same files in order (seeds first), in batches of CAB_FUZZ_BATCH (default
#      100) under compute-sanitizer memcheck, until CAB_FUZZ_MEMCHECK_S (default 240) is spent;
#      the row says how many files it covered.
# Prints a summary table last; exits non-zero when any step failed. A finding aborts the replay,
# whose log names the input.
#   OUT=<dir> bash tools/gpu/fuzz_replay_gpu.sh [CORPUS_DIR] [build-dir]   (default: none,
#   build-gpu)
# CAB_GPU_BUDGET_S (default 560) bounds the whole run, as in run_gpu_tests.sh. Needs .carry/catch2
# (tools/gpu/prepare_carry.sh) to configure, as run_gpu_tests.sh does.
# Logs in $OUT: fuzz_build.log, fuzz_replay.log, fuzz_memcheck_NNN.log.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
CORPUS=${1:-}
BUILD=${2:-build-gpu}
OUT=${OUT:-$PWD/$BUILD/out}
BIN=$BUILD/bin/fuzz_api_replay
BATCH=${CAB_FUZZ_BATCH:-100}
mkdir -p "$OUT"
export CAB_FUZZ_DEVICE=cuda
# shellcheck source=tools/gpu/steps.sh
. tools/gpu/steps.sh

if [ -n "$CORPUS" ] && [ ! -d "$CORPUS" ]; then
  echo "corpus folder $CORPUS not found (carry it, e.g. .carry-fuzz)"
  exit 2
fi

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

build_step "build fuzz_api_replay" "$OUT/fuzz_build.log" fuzz_api_replay -DCAB_FUZZ_REPLAY=ON

# Every input, in the order replayed: regression inputs, seeds, then the carried corpus.
dirs=(tests/fuzz/corpus/api "$BUILD/tests/fuzz/corpus/api")
[ -n "$CORPUS" ] && dirs+=("$CORPUS")
files=()
for d in "${dirs[@]}"; do
  while IFS= read -r f; do files+=("$f"); done < <(find "$d" -maxdepth 1 -type f | LC_ALL=C sort)
done
echo "${#files[@]} inputs from ${dirs[*]}"

echo "== replay"
start=$SECONDS
limit=$((deadline - SECONDS - 30))
if [ $limit -lt 15 ]; then
  row "replay (${#files[@]} inputs)" SKIPPED 0 "no time left in CAB_GPU_BUDGET_S"
  print_summary
  exit 1
fi
timeout "$limit" "$BIN" "${dirs[@]}" >"$OUT/fuzz_replay.log" 2>&1
rc=$?
[ $rc -eq 0 ] || status=1
row "replay (${#files[@]} inputs)" "$(result_of $rc "$limit")" $((SECONDS - start)) \
  "$(grep -E "^fuzz_(replay|api):" "$OUT/fuzz_replay.log" | tail -2 | paste -sd ';' -)"
[ $rc -eq 0 ] || tail -30 "$OUT/fuzz_replay.log"

echo "== memcheck"
start=$SECONDS
memcheck_deadline=$((SECONDS + ${CAB_FUZZ_MEMCHECK_S:-240}))
[ $memcheck_deadline -gt $((deadline - 10)) ] && memcheck_deadline=$((deadline - 10))
done_files=0
result=PASS
n=0
for ((i = 0; i < ${#files[@]}; i += BATCH)); do
  left=$((memcheck_deadline - SECONDS))
  if [ $left -lt 15 ]; then
    result=PARTIAL
    break
  fi
  batch=("${files[@]:i:BATCH}")
  n=$((n + 1))
  log=$(printf '%s/fuzz_memcheck_%03d.log' "$OUT" $n)
  timeout "$left" compute-sanitizer --tool memcheck --error-exitcode 9 --print-limit 20 \
    "$BIN" "${batch[@]}" >"$log" 2>&1
  rc=$?
  if [ $rc -eq 124 ]; then
    result=PARTIAL
    break
  elif [ $rc -ne 0 ]; then
    result="FAIL(rc $rc)"
    status=1
    grep -E -A12 "^fuzz_(replay|api):|^========= (Invalid|Error|Program hit)" "$log" | head -60
    break
  fi
  done_files=$((done_files + ${#batch[@]}))
done
row "memcheck" "$result" $((SECONDS - start)) \
  "$done_files of ${#files[@]} inputs clean, in $n batches of up to $BATCH"

print_summary
exit $status
