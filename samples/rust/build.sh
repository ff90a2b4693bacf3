#!/usr/bin/env bash
# Builds cab-docqa with Debian's cargo and rustc, offline, against libcab: a build tree's lib/
# folder given as CAB_LIB_DIR (default: this checkout's build/lib), or the installed libcab-dev
# when CAB_LIB_DIR is empty. Run the result with LD_LIBRARY_PATH=$CAB_LIB_DIR for a build tree.
#   samples/rust/build.sh      -> target/release/cab-docqa (or under $CARGO_TARGET_DIR)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CAB_LIB_DIR=${CAB_LIB_DIR-$here/../../build/lib}
[ -z "$CAB_LIB_DIR" ] || CAB_LIB_DIR=$(cd "$CAB_LIB_DIR" && pwd)
export RUSTC=${RUSTC:-/usr/bin/rustc}
[ -z "${CARGO_TARGET_DIR:-}" ] || export CARGO_TARGET_DIR=$(realpath -m "$CARGO_TARGET_DIR")
cd "$here"
/usr/bin/cargo build --offline --release
