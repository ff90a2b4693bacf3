#!/usr/bin/env bash
# End-to-end checks of the `cab` command-line tool: output, exit codes and error messages.
# Usage: tests/cli/test_cli.sh PATH/TO/cab PATH/TO/SmolLM2-135M-Instruct.Q4_1.gguf
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 CAB_BINARY MODEL" >&2
    exit 2
fi
CAB=$1
MODEL=$2
if [ ! -x "$CAB" ]; then
    echo "FAIL: $CAB is not an executable (build the cab_cli target)" >&2
    exit 1
fi
if [ ! -f "$MODEL" ]; then
    echo "FAIL: model $MODEL is missing: run tools/setup.sh" >&2
    exit 1
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILED=0

fail() {
    echo "FAIL: $1" >&2
    echo "--- stdout:" >&2
    cat "$TMP/out" >&2
    echo "--- stderr:" >&2
    cat "$TMP/err" >&2
    FAILED=1
}

# run EXPECTED_EXIT CMD... : runs CMD with stdin from $TMP/in, output in $TMP/out and $TMP/err.
run() {
    local expected=$1
    shift
    "$@" <"$TMP/in" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    if [ "$rc" -ne "$expected" ]; then
        fail "'$*' exited $rc, expected $expected"
        return 1
    fi
    return 0
}

expect_in() {  # expect_in FILE TEXT WHAT
    if ! grep -qF -- "$2" "$TMP/$1"; then fail "$3: '$2' not in $1"; fi
}

: >"$TMP/in"
# The bad-option cases below split their arguments on spaces: use a path without any.
ln -s "$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")" "$TMP/model.gguf"
M="$TMP/model.gguf"

# info
if run 0 "$CAB" info "$MODEL"; then
    expect_in out "llama" "cab info"
    expect_in out "49152" "cab info vocab"
fi

# A missing model: exit 1, the message names the path.
MISSING="$TMP/no-such-model.gguf"
if run 1 "$CAB" generate -m "$MISSING" -p "hello"; then
    expect_in err "cab: error:" "missing model"
    expect_in err "$MISSING" "missing model"
fi
run 1 "$CAB" info "$MISSING" && expect_in err "$MISSING" "info on a missing model"

# A truncated model: exit 1 with a message.
head -c 1000 "$MODEL" >"$TMP/truncated.gguf"
if run 1 "$CAB" generate -m "$TMP/truncated.gguf" -p "hello"; then
    if ! grep -qE '^cab: error: .{10,}' "$TMP/err"; then fail "truncated model: no message"; fi
fi

# Bad options: exit 2 with usage.
for args in "generate --bogus" "generate -p hi" "generate -m $M" "generate -m $M -p hi -n abc" \
    "generate -m $M -p hi -n 0" "generate -m $M -p hi --top-p 2" \
    "generate -m $M -p hi --temp -1" "generate -m $M -p hi --device tpu" \
    "generate -m $M -p hi --seed" "chat" "chat -m $M --min-p 1.5" "info" \
    "info a b" "frobnicate" "generate -m $M -p hi --budget abc" \
    "generate -m $M -p hi --budget 150%" "generate -m $M -p hi --slack 0" \
    "generate -m $M -p hi --policy lru" "chat -m $M --window 0" \
    "generate -m $M -p hi --policy quantize+snapkv --kv-q8-capacity 0" \
    "generate -m $M -p hi --policy quantize+lru --kv-q8-capacity 64" \
    "chat -m $M --policy quantize --kv-q8-capacity 64 --quantize-recent -1" \
    "generate -m $M -p hi --policy quantize --kv-q8-capacity 64 --kv-q8-type fp16"; do
    # shellcheck disable=SC2086
    if run 2 "$CAB" $args; then expect_in err "usage:" "cab $args"; fi
done
run 2 "$CAB"
# The int8 options go with the quantize policies only, and those need int8 blocks.
run 2 "$CAB" generate -m "$M" -p hi --kv-q8-capacity 64 &&
    expect_in err "only the quantize policies use int8 KV blocks" "--kv-q8-capacity alone"
run 2 "$CAB" generate -m "$M" -p hi --policy h2o --quantize-recent 8 &&
    expect_in err "option --quantize-recent: only the quantize policies" "--quantize-recent, h2o"
run 2 "$CAB" chat -m "$M" --policy quantize+snapkv &&
    expect_in err "give their capacity with --kv-q8-capacity" "quantize without int8 blocks"
run 2 "$CAB" chat -m "$M" --policy snapkv --kv-q8-type fp8 &&
    expect_in err "option --kv-q8-type: only the quantize policies" "--kv-q8-type, snapkv"
run 2 "$CAB" generate -m "$M" -p hi --policy quantize --kv-q8-type fp8 &&
    expect_in err "give their capacity with --kv-q8-capacity" "fp8 without a capacity"

# Help: exit 0, usage on stdout.
for cmd in info generate chat; do
    run 0 "$CAB" "$cmd" --help && expect_in out "usage: cab $cmd" "cab $cmd --help"
done
run 0 "$CAB" --help && expect_in out "usage: cab COMMAND" "cab --help"

# The real job: a factual chat question answered greedily.
if run 0 "$CAB" generate -m "$MODEL" --chat -p "What is the capital of France?" -n 16; then
    expect_in out "Paris" "generate --chat"
    expect_in err "tokens/s" "generate stats"
    expect_in err "kv cache" "generate stats"
fi

# Automatic eviction: a question-aware policy keeps the answer; a long generation under a small
# budget evicts and reports it.
if run 0 "$CAB" generate -m "$MODEL" --chat -p "What is the capital of France?" -n 16 \
    --policy snapkv --budget 24 --slack 8 --window 8; then
    expect_in out "Paris" "generate --policy snapkv"
    expect_in err "eviction:  policy snapkv, budget 24 tokens per stream" "eviction stats"
fi
if run 0 "$CAB" generate -m "$MODEL" -p "Once upon a time" -n 120 --policy window \
    --budget 10% --slack 16; then
    grep -qE 'eviction: .* [1-9][0-9]* evicted in all' "$TMP/err" || fail "window 10%: no eviction"
fi
# Plain quantize moves old tokens to int8 blocks and evicts nothing; once those are full the
# generation stops early and says which capacity to raise.
if run 0 "$CAB" generate -m "$MODEL" -p "Once upon a time" -n 60 --policy quantize \
    --kv-q8-capacity 256 --quantize-recent 16 --slack 16; then
    expect_in err ", 0 evicted in all" "quantize evicts nothing"
    grep -qE '^int8 kv: +blocks [1-9][0-9]* used' "$TMP/err" || fail "quantize: no int8 blocks used"
fi
if run 0 "$CAB" generate -m "$MODEL" -p "Once upon a time" -n 60 --policy quantize \
    --kv-q8-capacity 256 --kv-q8-type fp8 --quantize-recent 16 --slack 16; then
    grep -qE '^fp8 kv: +blocks [1-9][0-9]* used' "$TMP/err" || fail "quantize: no fp8 blocks used"
    grep -qE '^eviction: .* in [1-9][0-9]* fp8 blocks\)' "$TMP/err" || fail "fp8: eviction line"
fi
if run 0 "$CAB" generate -m "$MODEL" -p "Once upon a time" -n 60 --policy quantize \
    --kv-q8-capacity 16 --quantize-recent 16 --slack 16; then
    expect_in err "stopped early: the KV cache is full (raise --kv-q8-capacity)" "int8 blocks full"
fi

# Greedy and seeded sampling are reproducible.
if run 0 "$CAB" generate -m "$MODEL" -p "Once upon a time" -n 24 --temp 0.8 --seed 7; then
    cp "$TMP/out" "$TMP/first"
    if run 0 "$CAB" generate -m "$MODEL" -p "Once upon a time" -n 24 --temp 0.8 --seed 7; then
        cmp -s "$TMP/first" "$TMP/out" || fail "the same seed gave different text"
    fi
fi

# Interactive chat from a pipe: two turns (the second continues the cached conversation), a
# reset, a third turn, then /exit.
printf 'What is the capital of France?\nAnd what is it famous for?\n/reset\nWhat is the capital of France?\n/exit\nignored\n' >"$TMP/in"
if run 0 "$CAB" chat -m "$MODEL" -n 24; then
    [ "$(grep -c Paris "$TMP/out")" -ge 2 ] || fail "chat: Paris not in both answers"
    [ "$(grep -c '^\[prefill' "$TMP/err")" -eq 3 ] || fail "chat: expected 3 replies"
    expect_in err "(conversation reset)" "chat /reset"
fi
printf 'What is the capital of France?\n' >"$TMP/in"
run 0 "$CAB" chat -m "$MODEL" -n 16 --system "You are a helpful assistant." &&
    expect_in out "Paris" "chat with a system message at end of input"
if run 0 "$CAB" chat -m "$MODEL" -n 16 --policy h2o --budget 96; then
    expect_in out "Paris" "chat --policy h2o"
    expect_in err "eviction:  policy h2o" "chat eviction stats"
fi

if [ "$FAILED" -ne 0 ]; then
    echo "test_cli: FAILED" >&2
    exit 1
fi
echo "test_cli: all checks passed"
