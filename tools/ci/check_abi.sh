#!/usr/bin/env bash
# The ABI checks of docs/ABI.md, on the library of a packaging build (tools/ci/build_packages.sh
# makes one, with debug info). Every check runs, and each failure says what to do:
#   1. the ABI rule judges known changes right (tests/abi/abi_compare_selftest.sh);
#   2. the exported symbols equal tests/abi/symbols.txt;
#   3. no symbol joined a version node that a release already shipped;
#   4. against the last release's ABI (tests/abi/baseline/), abidiff finds no incompatible change;
#   5. a program built for the first release (its header: tests/abi/frozen/) runs against it.
#   tools/ci/check_abi.sh [BUILD_DIR]          default BUILD_DIR: build-packages
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build-packages}"
lib="$build/lib/libcab.so.0"
model=tests/golden/tiny_llama.gguf
frozen=tests/abi/frozen/cab-0.1.0.h
out="$build/abi"

fail() {
  echo "check_abi: $*"
  exit 1
}
[ -f "$lib" ] || fail "no $lib: run tools/ci/build_packages.sh --build-only $build"
[ -f "$model" ] || fail "no $model: tools/golden/make_tiny_models.py writes it"
baselines=(tests/abi/baseline/*.abi)
[ ${#baselines[@]} -eq 1 ] || fail "tests/abi/baseline/ must hold exactly one .abi file"
baseline="${baselines[0]}"
mkdir -p "$out"

selftest() {
  tests/abi/abi_compare_selftest.sh
}

symbol_list() {
  tests/abi/list_symbols.sh "$lib" > "$out/symbols.txt" || return 1
  if ! diff -u tests/abi/symbols.txt "$out/symbols.txt"; then
    echo "'-' lines: symbols the library no longer exports; programs using them break (only a"
    echo "major release may remove one, docs/ABI.md). '+' lines: new symbols; if intended, run"
    echo "tools/ci/update_abi_symbols.sh and commit tests/abi/symbols.txt."
    return 1
  fi
  echo "$(wc -l < "$out/symbols.txt") symbols, as listed"
}

released_nodes() {
  grep -o "<elf-symbol name='[^']*' version='[^']*'" "$baseline" |
    sed "s/<elf-symbol name='\([^']*\)' version='\([^']*\)'/\1@\2/" | LC_ALL=C sort -u \
    > "$out/released.txt"
  tests/abi/list_symbols.sh "$lib" | sed 's/@@*/@/' | LC_ALL=C sort -u > "$out/current.txt"
  cut -d@ -f2 "$out/released.txt" | sort -u > "$out/released_nodes.txt"
  local status=0 node added
  while read -r node; do
    added=$(LC_ALL=C comm -13 <(grep "@$node\$" "$out/released.txt") \
      <(grep "@$node\$" "$out/current.txt" || true))
    if [ -n "$added" ]; then
      echo "$added"
      echo "these symbols joined $node, which a release already shipped: put them in a new node"
      echo "(e.g. CAB_0.2 { global: cab_new; } CAB_0; in src/cab.map), see docs/ABI.md"
      status=1
    fi
  done < "$out/released_nodes.txt"
  [ "$status" -eq 0 ] && echo "released nodes unchanged: $(tr '\n' ' ' < "$out/released_nodes.txt")"
  return "$status"
}

abidiff_baseline() {
  rm -f "$out/libcab.abi"
  tests/abi/abi_dump.sh "$lib" include/cab "$out/libcab.abi" || return 1
  if ! tests/abi/abi_compare.sh "$baseline" "$out/libcab.abi"; then
    echo "incompatible ABI change against $baseline (docs/ABI.md says what may change)"
    return 1
  fi
  echo "compatible with $baseline"
}

frozen_header() {
  local declared fn link="$out/link-0.1.0"
  declared=$(grep -oE 'CAB_API [^(]*\bcab_[a-z0-9_]+\(' "$frozen" | grep -oE 'cab_[a-z0-9_]+\($' |
    tr -d '(')
  for fn in $declared; do
    if ! grep -q "(void (\*)(void))$fn," tests/abi/frozen_header_test.c; then
      echo "$fn of $frozen is missing from the table in tests/abi/frozen_header_test.c"
      return 1
    fi
  done
  # A program built for 0.1.0 was linked against the 0.1.0 library and so recorded the symbol
  # versions that library had (all CAB_0). A stand-in with those versions gives the test the
  # same bindings; at run time it loads the new library (rpath).
  rm -rf "$link" "$out/frozen_header_test"
  mkdir -p "$link"
  for fn in $declared; do echo "void $fn(void) {}"; done > "$link/stand_in.c"
  echo 'CAB_0 { global: cab_*; local: *; };' > "$link/cab.map"
  cc -shared -fPIC "$link/stand_in.c" -Wl,--version-script="$link/cab.map" \
    -Wl,-soname,libcab.so.0 -o "$link/libcab.so" &&
    cc -std=c99 -Wall -Wextra -Werror -pedantic tests/abi/frozen_header_test.c \
      -L"$link" -lcab -Wl,-rpath,"$PWD/$build/lib" -o "$out/frozen_header_test" &&
    "$out/frozen_header_test" "$model"
}

# Each check is a function that returns nonzero on failure (set -e does not apply inside them).
failed=()
check() {
  echo "== $1"
  "$2" || failed+=("$1")
}
check "ABI rule selftest" selftest
check "exported symbols = tests/abi/symbols.txt" symbol_list
check "released version nodes unchanged ($baseline)" released_nodes
check "abidiff against $baseline" abidiff_baseline
check "a 0.1.0 program ($frozen) against the new library" frozen_header
if [ ${#failed[@]} -ne 0 ]; then
  printf 'check_abi: FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "check_abi: passed"
