#!/usr/bin/env bash
# Builds the C sample (samples/c) against the built libcab and runs it on both models.
set -uo pipefail
source "$(dirname "$0")/common.sh"
require_inputs
echo "== C sample (libcab in $lib_dir)"

dir=$out_dir/c
check "configure samples/c" cmake -S "$root/samples/c" -B "$dir" -DCAB_LIB_DIR="$lib_dir"
check "build cab_generate" cmake --build "$dir"
check "cab_generate on stories260K" "$dir/cab_generate" "$stories" "Once upon a time" 30
expect "stories260K: greedy text as llama2.c" "^, there was a little girl named Lily"
expect "stories260K: speeds and KV stats" "generated: 30 tokens, [0-9.]+ tokens/s"
check "cab_generate on SmolLM2 (chat template)" "$dir/cab_generate" "$smollm" \
  "What is the capital of France?" 24
expect "SmolLM2: answers" "Paris"
expect "SmolLM2: KV stats" "kv cache: +[0-9]+ positions, [0-9]+ tokens cached over 30 layers x 3 kv heads"
check "cab_generate on stories260K, auto eviction" "$dir/cab_generate" "$stories" "Once upon a time" \
  200 --policy window --budget 32
expect "auto eviction: streams within budget + slack" "streams hold [0-9]+\.\.([3-8][0-9]|9[0-6])\), [1-9][0-9]* tokens evicted"
check "a bad model path fails with the path" bash -c \
  "! '$dir/cab_generate' /nonexistent/model.gguf hi 2>&1"
expect "the error names the path" "/nonexistent/model.gguf"
summary
