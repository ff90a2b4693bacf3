#!/usr/bin/env bash
# Regenerates src/bindings.rs from include/cab/cab.h with Debian 12's bindgen (0.60) and
# rustfmt. The file is committed so that building the crate needs neither bindgen nor libclang;
# run this after changing cab.h.
#   bindings/rust/cab-sys/regenerate.sh           rewrite src/bindings.rs
#   bindings/rust/cab-sys/regenerate.sh --check   exit 1 if the committed file is stale
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
check=0
[ "${1:-}" = "--check" ] && check=1

bindgen=${BINDGEN:-/usr/bin/bindgen}
# bindgen formats with the rustfmt it finds; pin Debian's so the output does not depend on PATH.
export RUSTFMT=${RUSTFMT:-/usr/bin/rustfmt}
for tool in "$bindgen" "$RUSTFMT"; do
  [ -x "$tool" ] || { echo "regenerate.sh: $tool not found (apt-get install bindgen rustfmt)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Enums become plain integer constants: a status code newer than this crate stays a valid value.
(cd "$root" && "$bindgen" include/cab/cab.h \
  --allowlist-function 'cab_.*' --allowlist-type 'cab_.*' --allowlist-var 'CAB_.*' \
  --default-enum-style consts --no-prepend-enum-name --size_t-is-usize \
  -o "$tmp/bindings.rs" -- -I include)

if [ "$check" -eq 1 ]; then
  if ! diff -u "$here/src/bindings.rs" "$tmp/bindings.rs" >"$tmp/diff"; then
    echo "regenerate.sh: bindings/rust/cab-sys/src/bindings.rs is stale;" \
      "run bindings/rust/cab-sys/regenerate.sh" >&2
    head -n 40 "$tmp/diff" >&2
    exit 1
  fi
  exit 0
fi
cp "$tmp/bindings.rs" "$here/src/bindings.rs"
echo "regenerate.sh: wrote $here/src/bindings.rs"
