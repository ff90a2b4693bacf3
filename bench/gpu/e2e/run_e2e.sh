#!/usr/bin/env bash
# End-to-end GPU benchmark (issue 4, benchmark items 3 and 4), on the GPU machine, from the
# repository root: builds libcab with CUDA, makes random-weight bf16 models shaped like
# Qwen2.5-0.5B and Qwen2.5-7B (HF folder + GGUF, kept under build-gpu/e2e/models), measures the
# device-to-device copy bandwidth (for the weight-read roofline), runs bench_generate (libcab)
# and hf_generate.py (HF transformers) on both shapes (prefill of 4096 tokens; decode at batch
# 1 and 16), and bench_evict --device cuda at 4k and 32k cached tokens; prints the table last.
#   CAB_COMMIT=<sha> OUT=<dir> bash bench/gpu/e2e/run_e2e.sh
# Carry .whl (the gguf 0.19.0 wheel) when the machine lacks gguf; .carry (tools/gpu/
# prepare_carry.sh) lets this share build-gpu with bench/gpu/run.sh. About 8 minutes on an H100.
# Results in $OUT: e2e_gpu.json (everything), gpu_evict_<date>.json, e2e_logs.txt (every
# stage's log), build.log. A failed stage is reported and the others still run; the exit status
# is nonzero if any failed.
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-$PWD/build-gpu/e2e/out}
BUILD=build-gpu
E2E=$BUILD/e2e
MODELS=$E2E/models
RESULTS=$E2E/results
LOGS=$E2E/logs
COMMIT=${CAB_COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
export CAB_COMMIT=$COMMIT  # the benchmarks record it (bench/bench_report.h)
REPS=3
STEPS=64
mkdir -p "$OUT" "$MODELS" "$LOGS"
rm -rf "$RESULTS" && mkdir -p "$RESULTS"
: >"$LOGS/order"
failed=()

# stage NAME LIMIT_S COMMAND...: runs with its log in $LOGS/NAME.log; a failure is recorded.
stage() {
  local name=$1 limit=$2 start=$SECONDS rc=0
  shift 2
  echo "$name" >>"$LOGS/order"
  echo "== $name"
  PYTHONUNBUFFERED=1 timeout "$limit" "$@" >"$LOGS/$name.log" 2>&1 || rc=$?
  if [ $rc -eq 0 ]; then
    echo "   done in $((SECONDS - start)) s"
  else
    local why="exit $rc"
    [ $rc -eq 124 ] && why="over its ${limit} s limit"
    echo "   FAILED ($why) after $((SECONDS - start)) s, last lines:"
    tail -15 "$LOGS/$name.log" | sed 's/^/   | /'
    failed+=("$name")
  fi
}

collect() {
  : >"$OUT/e2e_logs.txt"
  while read -r name; do
    { echo "===== $name"; cat "$LOGS/$name.log"; } >>"$OUT/e2e_logs.txt"
  done <"$LOGS/order"
  cp "$RESULTS"/gpu_evict_*.json "$OUT/" 2>/dev/null || true
}
trap collect EXIT

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
  --format=csv,noheader
echo "   commit $COMMIT; $(nproc) cores; $(df -h --output=avail . | tail -1 | tr -d ' ') free disk"

echo "== build"
configure=(-DCAB_CUDA=ON -DCAB_BUILD_TOOLS=OFF -DCMAKE_BUILD_TYPE=Release)
if [ -d .carry/catch2 ]; then
  configure+=(-DCAB_BUILD_TESTS=ON "-DCMAKE_PREFIX_PATH=$PWD/.carry/catch2")  # as run.sh
else
  configure+=(-DCAB_BUILD_TESTS=OFF)
fi
if ! { cmake -S . -B $BUILD "${configure[@]}" &&
  cmake --build $BUILD -j"$(nproc)" --target cab bench_generate bench_evict; } \
  >"$OUT/build.log" 2>&1; then
  grep -E "error|Error" "$OUT/build.log" | head -30
  echo "build FAILED: $OUT/build.log"
  exit 1
fi

echo "== python packages"
if ! python3 -c "import gguf" 2>/dev/null; then
  wheel=(.whl/gguf-0.19.0-*.whl)
  if [ ! -f "${wheel[0]}" ]; then
    echo "gguf is not installed and .whl/gguf-0.19.0-*.whl was not carried"
    exit 1
  fi
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "${wheel[0]}"
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
python3 -c "import importlib.metadata as m, torch, transformers
print('   gguf', m.version('gguf'), '| torch', torch.__version__, '| transformers',
      transformers.__version__)"

stage copy_bandwidth 60 python3 - "$RESULTS/copy.json" <<'EOF'
# Device-to-device copy of 2 GB, best of 5 (CUDA events): bytes read + written per second.
import json, sys, torch
n = 2 * 10**9
src = torch.empty(n, dtype=torch.uint8, device="cuda").random_(0, 255)
dst = torch.empty_like(src)
for _ in range(3):
    dst.copy_(src)
best = float("inf")
for _ in range(5):
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record(); dst.copy_(src); b.record(); b.synchronize()
    best = min(best, a.elapsed_time(b) / 1e3)
r = {"device": torch.cuda.get_device_name(), "bytes": n, "best_s": best,
     "gbps_read_write": 2 * n / best / 1e9, "method": "torch copy_ of 2 GB, best of 5"}
print(r)
json.dump(r, open(sys.argv[1], "w"), indent=1)
EOF

run_shape() {
  local key=$1 name=$2 limit=$3
  stage "models_$key" "$limit" python3 bench/gpu/e2e/make_random_model.py --out "$MODELS" \
    --shapes "$key"
  if [ ! -f "$MODELS/$name.gguf" ]; then
    echo "   skipping the $key benchmarks: no model"
    return
  fi
  stage "cab_$key" 240 $BUILD/bin/bench_generate --model "$MODELS/$name.gguf" --device cuda \
    --prompt 4096 --chunk 4096 --batch 1,16 --decode-prompt 32 --steps $STEPS --warmup 8 \
    --reps $REPS --label "$name" --commit "$COMMIT" --json "$RESULTS/cab_$key.json"
  # The same decode through the composed ops (cuBLAS GEMMs, no fused GEMV kernels), side by side.
  stage "cab_${key}_composed" 120 env CAB_CUDA_GEMV=0 $BUILD/bin/bench_generate \
    --model "$MODELS/$name.gguf" --device cuda --prompt 256 --chunk 256 --batch 1 \
    --decode-prompt 32 --steps $STEPS --warmup 8 --reps $REPS --label "$name (CAB_CUDA_GEMV=0)" \
    --commit "$COMMIT" --json "$RESULTS/cab_${key}_composed.json"
  stage "hf_$key" 240 python3 bench/gpu/e2e/hf_generate.py --model "$MODELS/$name" \
    --prompt 4096 --batch 1,16 --decode-prompt 32 --steps $STEPS --warmup 8 --reps $REPS \
    --label "$name" --commit "$COMMIT" --json "$RESULTS/hf_$key.json"
}

run_shape 0.5b qwen2.5-0.5b-random 180
# Eviction in the 7B shape (28 layers x 4 kv heads x 128); score cost on the 0.5B model.
stage evict 240 $BUILD/bin/bench_evict --device cuda --sizes 4096,32768 --shape 28,4,128 \
  --budget 256 --reps $REPS --prefill 4096 --decode 64 \
  --model "$MODELS/qwen2.5-0.5b-random.gguf" --out "$RESULTS"
run_shape 7b qwen2.5-7b-random 300

failed_list=$(IFS=,; echo "${failed[*]:-}")
stage report 60 python3 bench/gpu/e2e/report_e2e.py --results "$RESULTS" \
  --out "$OUT/e2e_gpu.json" --commit "$COMMIT" --command "bash bench/gpu/e2e/run_e2e.sh" \
  --failed "$failed_list"
cat "$LOGS/report.log"
[ ${#failed[@]} -eq 0 ]
