#!/usr/bin/env bash
# Every dynamic symbol libcab.so defines must be part of the C ABI (cab_*), and every function
# declared with CAB_API in the public header must be exported.
set -euo pipefail
lib="$1"
header="$2"
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sed 's/@.*//' | sort -u)
stray=$(echo "$exported" | grep -v '^cab_' | grep -v '^CAB_0$' || true)
if [ -n "$stray" ]; then
  echo "symbols exported outside the cab_ API:"; echo "$stray"; exit 1
fi
declared=$(grep -oE 'CAB_API [^(]*\b(cab_[a-z0-9_]+)\(' "$header" | grep -oE 'cab_[a-z0-9_]+\($' | tr -d '(' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
if [ -n "$missing" ]; then
  echo "declared in cab.h but not exported:"; echo "$missing"; exit 1
fi
echo "$(echo "$declared" | wc -l) exported cab_ functions, none other"
