#!/usr/bin/env bash
# Builds cab-batch against libcab: a build tree's lib/ folder given as CAB_LIB_DIR (default: this
# checkout's build/lib), or the installed libcab-dev when CAB_LIB_DIR is empty. Offline: the only
# module it needs is bindings/go, by a replace directive.
#   samples/go/build.sh [OUTPUT]      (default OUTPUT: ./cab-batch)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(realpath -m "${1:-cab-batch}")
lib=${CAB_LIB_DIR-$here/../../build/lib}
if [ -n "$lib" ]; then
  lib=$(cd "$lib" && pwd)
  export CGO_LDFLAGS="-L$lib -Wl,-rpath,$lib ${CGO_LDFLAGS:-}"
fi
cd "$here"
GOFLAGS=-mod=mod GOPROXY=off go build -o "$out" .
echo "built $out"
