#!/usr/bin/env bash
# On the GPU machine, from the repository root: builds the CUDA attention kernels, runs the GPU
# tests, compute-sanitizer (memcheck on the suite, racecheck and synccheck on the small cases)
# and the attention benchmark against torch, then prints the comparison table last.
#   CAB_COMMIT=<sha> OUT=<dir> bash bench/gpu/run.sh [--no-bench] [--only prefill|decode]
# Results in $OUT: attention_gpu.json, tests.log, sanitizer.log, bench.log, build.log.
# Catch2 is found through CMAKE_PREFIX_PATH=.carry/catch2 when the machine has none: run
# tools/gpu/prepare_carry.sh here first (a copy of Debian's catch2 files) and carry .carry.
# pip requirements: torch>=2.5 and triton, for attention_torch.py (present on the GPU machine).
set -uo pipefail
no_bench=0 only=()
while [ $# -gt 0 ]; do
  case $1 in
    --no-bench) no_bench=1 ;;
    --only) only=(--only "$2"); shift ;;
    *) echo "usage: bash bench/gpu/run.sh [--no-bench] [--only prefill|decode]" >&2; exit 2 ;;
  esac
  shift
done
OUT=${OUT:-$PWD/build-gpu/out}
BUILD=build-gpu
LOGS=$BUILD/logs
mkdir -p "$OUT" "$LOGS"
status=0
step() { echo "== $*"; }

step "build"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
cmake -S . -B $BUILD -DCAB_CUDA=ON -DCAB_BUILD_TOOLS=OFF -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$PWD/.carry/catch2" >"$OUT/build.log" 2>&1 &&
  cmake --build $BUILD -j16 --target cab_gpu_tests cab_attention_bench >>"$OUT/build.log" 2>&1 ||
  { grep -E "rror" "$OUT/build.log" | head -30; exit 1; }

step "tests"
timeout 150 $BUILD/bin/cab_gpu_tests --durations yes >"$OUT/tests.log" 2>&1 || status=1
tail -3 "$OUT/tests.log"
[ $status -ne 0 ] && grep -B2 -A14 "FAILED" "$OUT/tests.log" | head -90

step "compute-sanitizer"
: >"$OUT/sanitizer.log"
san() {
  local limit=$1 tool=$2; shift 2
  echo "---- $tool $*" >>"$OUT/sanitizer.log"
  if timeout "$limit" compute-sanitizer --tool "$tool" --print-limit 10 --error-exitcode 9 \
      $BUILD/bin/cab_gpu_tests "$@" >>"$OUT/sanitizer.log" 2>&1; then
    echo "$tool $*: clean"
  else
    echo "$tool $*: FAILED"; status=1
  fi
}
san 200 memcheck
san 120 racecheck "[small]"
san 60 synccheck "[small]"
[ $status -ne 0 ] && grep -m 30 -E "^=========" "$OUT/sanitizer.log"
[ $no_bench -eq 1 ] && exit $status

step "benchmark"
# Decode both standalone and launched as the engine launches it (--pdl both).
timeout 300 $BUILD/bin/cab_attention_bench "${only[@]}" --pdl both >"$LOGS/cab.json" \
  2>"$OUT/bench.log" ||
  { tail -5 "$OUT/bench.log"; exit 1; }
PYTHONUNBUFFERED=1 timeout 200 python3 bench/gpu/attention_torch.py "${only[@]}" >"$LOGS/torch.json" 2>>"$OUT/bench.log" ||
  { tail -20 "$OUT/bench.log"; exit 1; }
python3 bench/gpu/report.py "$LOGS/cab.json" "$LOGS/torch.json" "$OUT/attention_gpu.json" \
  "${CAB_COMMIT:-unknown}" "bash bench/gpu/run.sh" | tee -a "$OUT/bench.log"
exit $status
