#!/usr/bin/env bash
# Runs the Rust binding's tests with Debian's cargo and rustc (offline, warnings as errors) and
# builds and runs the long-document QA sample, against the built libcab.
set -uo pipefail
source "$(dirname "$0")/common.sh"
require_inputs
# Debian 12's toolchain (rustc 1.63), whatever else is on PATH.
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTFLAGS="-D warnings"
cargo=/usr/bin/cargo
echo "== Rust binding ($($RUSTC --version), $($cargo --version))"

export CAB_LIB_DIR=$lib_dir LD_LIBRARY_PATH=$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export CARGO_TARGET_DIR=$out_dir/rust-target
export CAB_TEST_MODEL=$stories CAB_TEST_CHAT_MODEL=$smollm

check "rustfmt --check" /usr/bin/rustfmt --check --edition 2021 \
  "$root/bindings/rust/cab/src/lib.rs" "$root/bindings/rust/cab/tests/api.rs" \
  "$root/bindings/rust/cab-sys/build.rs" "$root/samples/rust/src/main.rs"

(cd "$root/bindings/rust" && "$cargo" test --offline --locked) >"$log" 2>&1
read -r tests_passed tests_failed < <(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$log" |
  awk '{p += $1; f += $2} END {print p + 0, f + 0}')
grep -q "^error" "$log" && tests_failed=$((tests_failed + 1))
count_tests "cargo test (cab-sys layout, cab API, doc)" "$tests_passed" "$tests_failed"

check "build samples/rust" "$root/samples/rust/build.sh"
check "cab-docqa: an essay and a question on SmolLM2" "$CARGO_TARGET_DIR/release/cab-docqa" \
  "$smollm" "$essays/foundervisa.txt" "How many startup founders a year does the essay propose to let in?" \
  --max-tokens 32
expect "docqa: the document fills the cache" "^document: +[0-9]{3} positions"
expect "docqa: snapkv evicts the prompt to 256 tokens per stream" \
  "^evicted: +[0-9]{3} positions, 23040 tokens cached .*streams hold 256\.\.256"
expect "docqa: an answer" "^answer: +[^ ]"
expect "docqa: KV stats after the answer" "^kv cache: +[0-9]+ positions, [0-9]+ tokens cached over 30 layers x 3 kv heads"
summary
