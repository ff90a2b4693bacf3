#!/usr/bin/env bash
# Exits 0 when a library with the ABI NEW.abi serves every program built against OLD.abi, as
# docs/ABI.md allows: functions and enumerators may be added, and structs that start with
# struct_size may grow at their end. Anything else abidiff finds (a removed function, a changed
# signature, member type, layout or enumerator value) fails, with abidiff's report.
#   tests/abi/abi_compare.sh OLD.abi NEW.abi
set -euo pipefail
here=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$here/strip_struct_growth.py" "$1" "$2" "$tmp/new.abi"
# abidiff's status: 0 none, bit 4 an ABI change, bit 8 an incompatible one, 1 or 2 an error.
abidiff --no-added-syms "$1" "$tmp/new.abi"
