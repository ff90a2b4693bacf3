#!/usr/bin/env bash
# Rewrites tests/abi/symbols.txt from the library as built now, after a deliberate change of the
# exported symbols (a new function, in its own version node: docs/ABI.md), and shows the change.
#   tools/ci/update_abi_symbols.sh [BUILD_DIR]          default BUILD_DIR: build-packages
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build-packages}"
tools/ci/build_packages.sh --build-only "$build"
tests/abi/list_symbols.sh "$build/lib/libcab.so.0" > "$build/symbols.txt.new"
if diff -u tests/abi/symbols.txt "$build/symbols.txt.new"; then
  echo "tests/abi/symbols.txt is already up to date"
else
  mv "$build/symbols.txt.new" tests/abi/symbols.txt
  echo "tests/abi/symbols.txt updated: commit it with the change that made it"
fi
rm -f "$build/symbols.txt.new"
