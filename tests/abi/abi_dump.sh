#!/usr/bin/env bash
# Writes the ABI of a shared library as abidw sees it through its debug info (build it with -g):
# the exported functions and the types of the public headers they reach (opaque handles stay
# opaque), without build paths, so that dumps from different checkouts compare equal.
#   tests/abi/abi_dump.sh LIBRARY PUBLIC_HEADER_DIR OUT.abi
set -euo pipefail
abidw --no-corpus-path --no-comp-dir-path --exported-interfaces-only \
  --headers-dir "$2" --drop-private-types --out-file "$3" "$1"
