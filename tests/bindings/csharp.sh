#!/usr/bin/env bash
# Builds the C# binding (SWIG + mcs) and the chat sample against the built libcab, runs the
# binding's tests under Mono and the sample on SmolLM2.
set -uo pipefail
source "$(dirname "$0")/common.sh"
require_inputs
echo "== C# binding (swig $(swig -version | sed -n 's/^SWIG Version //p'), mono $(mono --version | sed -n '1s/.*version \([^ ]*\).*/\1/p'))"

dir=$out_dir/csharp-chat
check "configure samples/csharp (with bindings/csharp)" \
  cmake -S "$root/samples/csharp" -B "$dir" -DCAB_LIB_DIR="$lib_dir"
check "build Cab.dll, libcab_csharp.so, CabTests.exe, cab_chat.exe" cmake --build "$dir"

mono "$dir/CabTests.exe" "$stories" "$smollm" >"$log" 2>&1
read -r tests_passed tests_failed < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$log" | tail -n 1)
count_tests "mono CabTests.exe" "${tests_passed:-0}" "${tests_failed:-0}"

printf 'What is the capital of France?\nAnd of Italy?\n/reset\nSay hello.\n' >"$dir/chat_input.txt"
check "cab_chat.exe: three turns on SmolLM2, auto eviction to 32 tokens" bash -c \
  "mono '$dir/cab_chat.exe' '$smollm' --max-tokens 24 --ctx 512 --policy cab --budget 32 <'$dir/chat_input.txt'"
expect "chat: first answer" "Paris"
expect "chat: follow-up reuses the cached conversation" "Rome"
expect "chat: KV stats per turn" "kv [0-9]+ tokens cached over 30 layers"
expect "chat: automatic eviction keeps the streams near the budget" "streams hold up to (3[2-9]|4[0-8]), [1-9][0-9]* evicted"
summary
