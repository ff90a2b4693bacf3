#!/usr/bin/env bash
# Checks that the ABI rule (tests/abi/abi_compare.sh) passes what docs/ABI.md allows and fails
# real breaks: a stand-in library (selftest_stub.c) is built against the frozen 0.1.0 header and
# against edited copies of it, and each copy is compared with the original.
#   tests/abi/abi_compare_selftest.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# build NAME SED_SCRIPT [CFLAGS...]: the stand-in library against an edited header, and its ABI.
build() {
  local dir="$tmp/$1"
  mkdir -p "$dir/cab"
  sed -e "$2" "$here/frozen/cab-0.1.0.h" > "$dir/cab/cab.h"
  if [ -n "$2" ] && cmp -s "$here/frozen/cab-0.1.0.h" "$dir/cab/cab.h"; then
    echo "abi_compare selftest: the edit of case $1 matches nothing in the header"
    exit 1
  fi
  printf 'CAB_0 { global: cab_*; local: *; };\n' > "$dir/cab.map"
  gcc -std=c99 -g -O2 -shared -fPIC -fvisibility=hidden -I"$dir" "${@:3}" \
    "$here/selftest_stub.c" -Wl,--version-script="$dir/cab.map" -Wl,-soname,libcab.so.0 \
    -o "$dir/libcab.so.0"
  "$here/abi_dump.sh" "$dir/libcab.so.0" "$dir/cab" "$dir/abi.xml"
}

failures=0
# expect pass|fail NAME SED_SCRIPT [CFLAGS...]
expect() {
  local want="$1" name="$2"
  build "$name" "${@:3}"
  local got=pass
  "$here/abi_compare.sh" "$tmp/base/abi.xml" "$tmp/$name/abi.xml" > "$tmp/$name/report" 2>&1 ||
    got=fail
  if [ "$got" = "$want" ]; then
    echo "  ok: $name ($got)"
  else
    echo "  WRONG: $name: expected $want, got $got"
    sed 's/^/    /' "$tmp/$name/report"
    failures=$((failures + 1))
  fi
}

build base ''
ctx_last='/int32_t prefill_chunk;/'
expect pass unchanged ''
expect pass added-function '' -DWITH_NEW_FUNCTION
expect pass options-struct-grows-at-end "${ctx_last}a\\    int64_t added_at_end;"
expect pass output-struct-grows-at-end '/uint64_t bytes_total;/a\    int64_t added_at_end;'
expect pass enumerator-added 's/CAB_ERR_INTERNAL = -10 /&, CAB_ERR_ADDED = -11 /'
expect fail member-inserted-in-middle '/int32_t n_threads;/i\    int32_t inserted;'
expect fail member-widened-and-struct-grown \
  "s/int32_t n_threads;/int64_t n_threads;/;${ctx_last}a\\    int64_t added_at_end;"
expect fail member-type-changed 's/int32_t n_threads;/float n_threads;/'
expect fail array-element-struct-grows '/const char \*content;/a\    int added;'
expect fail enumerator-value-changed 's/CAB_ERR_IO = -2,/CAB_ERR_IO = -12,/'
expect fail function-removed '' -DWITHOUT_SAMPLER_FREE

if [ "$failures" -ne 0 ]; then
  echo "abi_compare selftest: $failures cases judged wrongly"
  exit 1
fi
echo "abi_compare selftest: every case judged as docs/ABI.md says"
