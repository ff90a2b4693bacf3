#!/usr/bin/env bash
# Every binding check, for CI (tools/test.sh calls it after building libcab): the committed
# generated code is current (bindgen's cab-sys/src/bindings.rs, SWIG's Go raw layer), then each
# language's tests and sample: C, C#, Go, Rust (tests/bindings/*.sh). Ends with one summary line.
#   CAB_BUILD_DIR  the libcab build tree (default: build/)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
passed=0
failed=0
failed_parts=()

# tally NAME: reads a script's "N passed, M failed" closing line from $out.
tally() {
  local p f
  read -r p f < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$out" | tail -n 1)
  if [ -z "${p:-}" ]; then
    p=0
    f=1
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  [ "$f" -eq 0 ] || failed_parts+=("$1")
}

out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "== generated bindings are current"
for gen in "bindings/rust/cab-sys/regenerate.sh --check" "bindings/go/generate.sh --check"; do
  if (cd "$root" && $gen) >"$out" 2>&1; then
    echo "ok    $gen"
    echo "1 passed, 0 failed" >"$out"
  else
    echo "FAIL  $gen"
    sed 's/^/      /' "$out"
    echo "0 passed, 1 failed" >"$out"
  fi
  tally "${gen%% *}"
done

for lang in c csharp go rust; do
  start=$SECONDS
  "$root/tests/bindings/$lang.sh" 2>&1 | tee "$out"
  echo "   ($lang: $((SECONDS - start)) s)"
  tally "$lang"
done

if [ "$failed" -eq 0 ]; then
  echo "bindings: $passed passed, 0 failed (${SECONDS} s)"
else
  echo "bindings: $passed passed, $failed failed (${SECONDS} s; failing: ${failed_parts[*]})"
  exit 1
fi
