#!/usr/bin/env bash
# `cab eval` in CI, on stories260K (a 512-token context): a small run, its report, and resuming.
#   eval_smoke.sh run    CAB MODEL DATA DIR                    fresh run into DIR/results.jsonl
#   eval_smoke.sh report CAB MODEL DATA DIR PYTHON REPORT_PY   eval/report.py on that file
#   eval_smoke.sh resume CAB MODEL DATA DIR                    reruns on a copy of it
#   eval_smoke.sh quantize CAB MODEL DATA DIR PYTHON REPORT_PY 8-bit rows, their report, bad names
set -u
mode=$1
CAB=$2
MODEL=$3
DATA=$4
DIR=$5
RESULTS=$DIR/results.jsonl
FAILED=0

fail() {
    echo "FAIL: $1" >&2
    FAILED=1
}

if [ ! -f "$MODEL" ]; then
    echo "FAIL: model $MODEL is missing: run tools/prepare_models.sh" >&2
    exit 1
fi

# eval_run OUT [extra options...]: the smoke configuration; stderr in $DIR/err.
eval_run() {
    local out=$1
    shift
    "$CAB" eval -m "$MODEL" --data "$DATA" --out "$out" --device cpu --threads 2 \
        --tasks passkey,qa --lengths 384 --depths 50 --policies window,snapkv --budgets 50% \
        --max-new-tokens 8 "$@" 2>"$DIR/err"
}

lines() { wc -l <"$1" | tr -d ' '; }
# A results file without its timings, which differ from run to run.
untimed() { sed 's/"seconds":{[^}]*},//' "$1"; }

case "$mode" in
run)
    rm -rf "$DIR"
    mkdir -p "$DIR"
    eval_run "$RESULTS" --samples 2 || fail "cab eval exited $?: $(cat "$DIR/err")"
    # 2 tasks x 2 samples, each: the dense reference + 2 policies x 1 budget.
    [ "$(lines "$RESULTS")" = 12 ] || fail "expected 12 records, got $(lines "$RESULTS")"
    for p in full window snapkv; do
        n=$(grep -c "\"policy\":\"$p\"" "$RESULTS")
        [ "$n" = 4 ] || fail "expected 4 records of policy $p, got $n"
    done
    for field in '"task":"qa"' '"metrics":{"em":' '"budget":"50%"' '"kept_share":' '"answer":'; do
        grep -qF "$field" "$RESULTS" || fail "no $field in the results"
    done
    grep -q "sample 4/4" "$DIR/err" || fail "no progress line 'sample 4/4' on stderr"
    ;;
report)
    PYTHON=$6
    REPORT=$7
    "$PYTHON" "$REPORT" "$RESULTS" --out-dir "$DIR/report" --name smoke >"$DIR/report.log" 2>&1 ||
        fail "report.py exited $?: $(cat "$DIR/report.log")"
    md=$DIR/report/smoke.md
    [ -s "$md" ] || fail "no $md"
    for text in "## passkey" "## qa" "| snapkv |" "| window |" "| full |" "Wilson"; do
        grep -qF "$text" "$md" || fail "'$text' not in $md"
    done
    if "$PYTHON" -c "import matplotlib" 2>/dev/null; then
        for png in smoke_passkey_contains.png smoke_qa_f1.png smoke_qa_depth_length.png; do
            [ -s "$DIR/report/$png" ] || fail "no plot $png"
        done
    else
        echo "matplotlib is missing for $PYTHON: plots not checked"
    fi
    ;;
resume)
    copy=$DIR/resume.jsonl
    cp "$RESULTS" "$copy"
    eval_run "$copy" --samples 2 || fail "rerun exited $?: $(cat "$DIR/err")"
    cmp -s "$RESULTS" "$copy" || fail "a rerun of a finished configuration changed the file"
    grep -q "0 samples run, 4 already done" "$DIR/err" || fail "rerun: $(tail -n 1 "$DIR/err")"
    # Another configuration is refused (exit 2) and leaves the file alone.
    eval_run "$copy" --samples 2 --seed 1
    rc=$?
    [ "$rc" = 2 ] || fail "another seed into the same file exited $rc, expected 2"
    grep -q "another configuration" "$DIR/err" || fail "no 'another configuration' message"
    cmp -s "$RESULTS" "$copy" || fail "a refused run changed the file"
    # Cells lost from the end (the last sample's two policies) are run again, and only they,
    # with the same results.
    head -n 10 "$RESULTS" >"$copy"
    eval_run "$copy" --samples 2 || fail "resume exited $?: $(cat "$DIR/err")"
    [ "$(lines "$copy")" = 12 ] || fail "resume: expected 12 records, got $(lines "$copy")"
    diff <(untimed "$RESULTS") <(untimed "$copy") >/dev/null ||
        fail "resumed cells differ from the first run's"
    # More samples add only the new ones.
    eval_run "$copy" --samples 3 || fail "extension exited $?: $(cat "$DIR/err")"
    [ "$(lines "$copy")" = 18 ] || fail "--samples 3: expected 18 records, got $(lines "$copy")"
    ;;
quantize)
    PYTHON=$6
    REPORT=$7
    rm -rf "$DIR"
    mkdir -p "$DIR"
    out=$DIR/quantize.jsonl
    "$CAB" eval -m "$MODEL" --data "$DATA" --out "$out" --device cpu --threads 2 \
        --tasks passkey --lengths 384 --depths 50 --samples 1 --max-new-tokens 8 \
        --policies snapkv,quantize,quantize+snapkv:r32,quantize:fp8,quantize+snapkv:r32:fp8 \
        --budgets 25%,50% 2>"$DIR/err" ||
        fail "cab eval exited $?: $(cat "$DIR/err")"
    # The dense reference, snapkv and quantize+snapkv (int8, fp8) at two budgets, plain quantize
    # (int8, fp8) once.
    [ "$(lines "$out")" = 9 ] || fail "expected 9 records, got $(lines "$out")"
    grep -qF '"policy":"quantize","budget":"all"' "$out" || fail "no quantize record at 'all'"
    grep -qF '"policy":"quantize:fp8","budget":"all"' "$out" || fail "no quantize:fp8 record"
    [ "$(grep -c '"memory_share":' "$out")" = 9 ] || fail "records without memory_share"
    # At each budget quantize+snapkv holds no more memory than snapkv, and more tokens.
    "$PYTHON" - "$out" <<'PY' || fail "memory shares out of line"
import json, sys
cells = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    cells[(r["policy"], r["budget"])] = r
for budget in ("25%", "50%"):
    snap, quant = cells[("snapkv", budget)], cells[("quantize+snapkv:r32", budget)]
    assert quant["memory_share"] <= snap["memory_share"] <= float(budget[:-1]) / 100 + 0.05
    assert quant["kept_tokens"] > snap["kept_tokens"]
assert 0.5 < cells[("quantize", "all")]["memory_share"] < 1
# fp8 blocks take the bytes of int8 ones: the same tokens in the same memory.
for int8, fp8, budget in (("quantize", "quantize:fp8", "all"),
                          ("quantize+snapkv:r32", "quantize+snapkv:r32:fp8", "25%"),
                          ("quantize+snapkv:r32", "quantize+snapkv:r32:fp8", "50%")):
    a, b = cells[(int8, budget)], cells[(fp8, budget)]
    assert a["memory_share"] == b["memory_share"] and a["kept_tokens"] == b["kept_tokens"]
    assert a["quantized_tokens"] == b["quantized_tokens"]
assert cells[("full", "100%")]["memory_share"] == 1
PY
    "$PYTHON" "$REPORT" "$out" --out-dir "$DIR/report" --name quantize --budget 50% \
        >"$DIR/report.log" 2>&1 || fail "report.py exited $?: $(cat "$DIR/report.log")"
    for text in "## By KV memory" "| quantize | all |" "| memory |"; do
        grep -qF "$text" "$DIR/report/quantize.md" || fail "'$text' not in the report"
    done
    # A policy the library does not know is a usage error (exit 2) that names it.
    "$CAB" eval -m "$MODEL" --data "$DATA" --out "$DIR/bad.jsonl" --device cpu --tasks passkey \
        --lengths 384 --policies quantize+nosuch --budgets 50% 2>"$DIR/err"
    rc=$?
    [ "$rc" = 2 ] || fail "quantize+nosuch exited $rc, expected 2"
    grep -q "quantize+nosuch.*is not a policy" "$DIR/err" || fail "unclear: $(cat "$DIR/err")"
    ;;
*)
    echo "usage: $0 run|report|resume|quantize CAB MODEL DATA DIR [PYTHON REPORT_PY]" >&2
    exit 2
    ;;
esac

if [ "$FAILED" -ne 0 ]; then exit 1; fi
echo "eval $mode: ok"
