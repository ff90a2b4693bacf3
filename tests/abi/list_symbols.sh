#!/usr/bin/env bash
# Prints the dynamic symbols a shared library defines, one "name@@VERSION" per line in C sort
# order (the form of tests/abi/symbols.txt). The version nodes themselves (absolute symbols such
# as CAB_0) are left out: each symbol line names its node.
#   tests/abi/list_symbols.sh LIBRARY
set -euo pipefail
nm -D --defined-only "$1" | awk '$2 != "A" {print $3}' | LC_ALL=C sort
