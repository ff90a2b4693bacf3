#!/usr/bin/env bash
# Regenerates the Go raw layer (internal/capi/capi.go and capi_wrap.c) from ../swig/cab.i with
# SWIG 4.1 (Debian 12's swig). The output is committed, so `go build` needs no SWIG; run this
# after changing include/cab/cab.h or the SWIG interface.
#   bindings/go/generate.sh           rewrite the files
#   bindings/go/generate.sh --check   exit 1 if the committed files differ from a regeneration
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
check=0
[ "${1:-}" = "--check" ] && check=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# SWIG names every C symbol with a hash of its top-level input file: a fixed two-line input
# keeps those names, and so the diffs of later regenerations, small.
printf '/* The Go raw layer of bindings/swig/cab.i. */\n%%include "cab.i"\n' >"$tmp/capi.i"
mkdir "$tmp/out"
(cd "$tmp" &&
  swig -go -cgo -intgosize 64 -module capi -I"$here/../swig" -I"$here/../../include" \
    -outdir out -o out/capi_wrap.c capi.i)
gofmt -w "$tmp/out/capi.go"

out="$here/internal/capi"
if [ "$check" -eq 1 ]; then
  status=0
  for f in capi.go capi_wrap.c; do
    if ! diff -u "$out/$f" "$tmp/out/$f" >"$tmp/$f.diff"; then
      echo "generate.sh: bindings/go/internal/capi/$f is stale; run bindings/go/generate.sh" >&2
      head -n 40 "$tmp/$f.diff" >&2
      status=1
    fi
  done
  exit "$status"
fi
cp "$tmp/out/capi.go" "$tmp/out/capi_wrap.c" "$out/"
echo "generate.sh: wrote $out/capi.go and $out/capi_wrap.c"
