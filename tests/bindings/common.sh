# Shared by the tests/bindings/*.sh scripts (sourced, not run): where libcab and the models are,
# and the pass/fail bookkeeping that ends in the closing "N passed, M failed" line.
#   CAB_BUILD_DIR  the libcab build tree (default: build/, what tools/test.sh builds); its lib/
#                  holds libcab.so and its bindings/ receives what these scripts build
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build_dir=$(realpath -m "${CAB_BUILD_DIR:-$root/build}")
lib_dir=$build_dir/lib
out_dir=$build_dir/bindings
stories=$root/models/stories260K.gguf
smollm=$root/models/SmolLM2-135M-Instruct.Q4_1.gguf
essays=$(realpath -m "${CAB_SHARED_DIR:-$root/../shared}")/data/paul_graham_essays
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

pass() {
  passed=$((passed + 1))
  echo "ok    $1"
}

fail() {
  failed=$((failed + 1))
  echo "FAIL  $1"
}

# check NAME CMD...: runs CMD with its output in $log; shows the output's end on failure.
check() {
  local name=$1
  shift
  if "$@" >"$log" 2>&1; then
    pass "$name"
  else
    fail "$name (exit $?)"
    tail -n 40 "$log" | sed 's/^/      /'
  fi
}

# expect NAME PATTERN: the last command's output ($log) matches the extended regex PATTERN.
expect() {
  if grep -Eq -- "$2" "$log"; then
    pass "$1"
  else
    fail "$1: no match for /$2/ in the output"
    tail -n 20 "$log" | sed 's/^/      /'
  fi
}

# count_tests NAME PASSED FAILED: adds a test runner's own counts.
count_tests() {
  passed=$((passed + $2))
  failed=$((failed + $3))
  if [ "$3" -eq 0 ] && [ "$2" -gt 0 ]; then
    echo "ok    $1: $2 tests passed"
  else
    echo "FAIL  $1: $2 passed, $3 failed"
    [ "$2" -gt 0 ] || failed=$((failed + 1))
    grep -E "FAIL|panicked|Error|error" "$log" | head -n 40 | sed 's/^/      /'
  fi
}

# Fails early, with what to run, when libcab or the models are missing.
require_inputs() {
  local missing=0
  if [ ! -e "$lib_dir/libcab.so" ]; then
    echo "FAIL  libcab is not built in $build_dir: cmake -S . -B build && cmake --build build" \
      "(or set CAB_BUILD_DIR)"
    missing=1
  fi
  for f in "$stories" "$smollm"; do
    if [ ! -s "$f" ]; then
      echo "FAIL  $f is missing: run tools/prepare_models.sh"
      missing=1
    fi
  done
  if [ "$missing" -ne 0 ]; then
    echo "0 passed, 1 failed"
    exit 1
  fi
  mkdir -p "$out_dir"
}

summary() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
