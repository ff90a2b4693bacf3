# shellcheck shell=bash disable=SC2034  # status and rows are read by the sourcing script
# Sourced by the GPU machine's scripts (run_gpu_tests.sh, soak_gpu.sh, fuzz_replay_gpu.sh): steps
# run under one time budget, each recorded as a row of the summary table printed last.
# The sourcing script sets OUT and BUILD and may define, before calling step:
#   step_detail LOG  what a row's detail column shows of a step's log (default: its last line);
#   STEP_FAIL_PATTERN  what of a failed step's log is printed (grep -E; default FAIL|ERROR).
# It reads `status` (1 once any step failed) and calls print_summary at the end.
# CAB_GPU_BUDGET_S (default 560) bounds the whole run, so that the summary comes before the
# device tool's 10-minute limit: a step's time limit is cut to what is left, and a step with no
# time left is SKIPPED.
status=0
rows=()
deadline=$((SECONDS + ${CAB_GPU_BUDGET_S:-560}))
STEP_FAIL_PATTERN=${STEP_FAIL_PATTERN:-FAIL|ERROR}

if ! declare -F step_detail >/dev/null; then
  step_detail() {
    tail -1 "$1"
  }
fi

row() {
  rows+=("$(printf '%-46s %-16s %5ds  %s' "$1" "$2" "$3" "$4")")
}

# The result word for an exit status under `timeout` with a limit of $2 seconds.
result_of() {
  case $1 in
    0) echo PASS ;;
    124) echo "TIMEOUT(${2}s)" ;;
    *) echo "FAIL(rc $1)" ;;
  esac
}

# step NAME LOG SECONDS COMMAND...: runs COMMAND with a time limit into LOG and records a row.
step() {
  local name=$1 log=$2 limit=$3
  shift 3
  echo "== $name"
  local left=$((deadline - SECONDS))
  if [ $left -lt 15 ]; then
    row "$name" SKIPPED 0 "no time left in CAB_GPU_BUDGET_S"
    status=1
    return 1
  fi
  [ "$limit" -gt $left ] && limit=$left
  local start=$SECONDS rc result
  timeout "$limit" "$@" >"$log" 2>&1
  rc=$?
  result=$(result_of $rc "$limit")
  [ $rc -eq 0 ] || status=1
  row "$name" "$result" $((SECONDS - start)) "$(step_detail "$log")"
  [ $rc -eq 0 ] || grep -E -A12 "$STEP_FAIL_PATTERN" "$log" | head -60
  return $rc
}

# build_step NAME LOG TARGET [CMAKE_ARG...]: configures BUILD for CUDA (Release, Catch2 from
# .carry/catch2, benchmarks on, plus the extra arguments) and builds TARGET as a step; on a
# failure prints the errors and the summary and exits.
build_step() {
  local name=$1 log=$2 target=$3
  shift 3
  if ! step "$name" "$log" 360 bash -c "
      cmake -S . -B '$BUILD' -DCAB_CUDA=ON -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH='$PWD/.carry/catch2' -DCAB_BUILD_BENCH=ON $* &&
      cmake --build '$BUILD' -j16 --target $target"; then
    grep -E "error|Error" "$log" | head -30
    print_summary
    exit 1
  fi
}

print_summary() {
  echo
  printf '%-46s %-16s %6s  %s\n' "step" "result" "time" "detail"
  printf '%s\n' "${rows[@]}"
  echo "logs in $OUT"
}
