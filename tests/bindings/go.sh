#!/usr/bin/env bash
# Runs the Go binding's tests (go test, offline) and builds and runs the batch sample, against
# the built libcab.
set -uo pipefail
source "$(dirname "$0")/common.sh"
require_inputs
echo "== Go binding ($(go version | cut -d' ' -f3))"

export GOFLAGS=-mod=mod GOPROXY=off
export CGO_LDFLAGS="-L$lib_dir -Wl,-rpath,$lib_dir"
export CAB_TEST_MODEL=$stories CAB_TEST_CHAT_MODEL=$smollm

check "gofmt" bash -c "cd '$root' && test -z \"\$(gofmt -l bindings/go/*.go samples/go | tee /dev/stderr)\""
check "go vet (package cab)" bash -c "cd '$root/bindings/go' && go vet ."

(cd "$root/bindings/go" && go test -count=1 -v .) >"$log" 2>&1
count_tests "go test" "$(grep -c '^--- PASS' "$log")" "$(grep -c '^--- FAIL' "$log")"

check "build samples/go" env CAB_LIB_DIR="$lib_dir" "$root/samples/go/build.sh" "$out_dir/go/cab-batch"
check "cab-batch: three prompts in one batch on SmolLM2" "$out_dir/go/cab-batch" -n 16 "$smollm" \
  "What is the capital of France?" "Name three colors." "Why is the sky blue?"
expect "batch: an answer per prompt" "^\[2\] Why is the sky blue\?"
expect "batch: decoded in batched steps" "decode: +[0-9]+ batched steps, [0-9]+ tokens \(([2-9]|[12]\.[0-9])"
summary
