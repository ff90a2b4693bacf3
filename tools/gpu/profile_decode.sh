#!/usr/bin/env bash
# On the GPU machine: where a batch-1 decode step of the 0.5B-shaped random model spends its time.
# Builds bench_generate, makes the model (bench/gpu/e2e/make_random_model.py), times decode with
# CUDA graphs on and off, and prints the GPU time per kernel of 16 eager steps (ncu).
#   OUT=<dir> bash tools/gpu/profile_decode.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=build-gpu
OUT=${OUT:-$PWD/$BUILD/out}
MODELS=$BUILD/e2e/models
mkdir -p "$OUT" "$MODELS"
cmake -S . -B $BUILD -DCAB_CUDA=ON -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$PWD/.carry/catch2" >"$OUT/profile_build.log" 2>&1 &&
  cmake --build $BUILD -j16 --target bench_generate >>"$OUT/profile_build.log" 2>&1 ||
  { grep -E "error" "$OUT/profile_build.log" | head; exit 1; }
if ! python3 -c "import gguf" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/gguf-0.19.0-*.whl
  export PYTHONPATH=/tmp/site
fi
model=$MODELS/qwen2.5-0.5b-random.gguf
[ -f "$model" ] || python3 bench/gpu/e2e/make_random_model.py --out "$MODELS" --shapes 0.5b \
  >"$OUT/profile_model.log" 2>&1
run() {
  $BUILD/bin/bench_generate --model "$model" --device cuda --prompt 256 --chunk 256 --batch 1 \
    --decode-prompt 32 --steps "$1" --warmup 8 --reps 3 2>&1 | grep -E "^  decode" | head -4
}
echo "== graphs on";  run 64
echo "== graphs off"; CAB_CUDA_GRAPHS=0 run 64
echo "== graphs on, PDL off"; CAB_CUDA_PDL=0 run 64
echo "== graphs on, GEMV off"; CAB_CUDA_GEMV=0 run 64
# Per-kernel GPU time of eager decode steps (nsys is not installed there; ncu is). ncu serializes
# the kernels, so the sum is the GPU work alone: the rest of a step is launch and dependency gaps.
if command -v ncu >/dev/null; then
  CAB_CUDA_GRAPHS=0 ncu --clock-control none --metrics gpu__time_duration.sum --csv \
    --print-units base $BUILD/bin/bench_generate --model "$model" --device cuda --prompt 32 \
    --chunk 32 --batch 1 --decode-prompt 32 --steps 16 --warmup 0 --reps 1 \
    >"$OUT/decode_ncu.csv" 2>"$OUT/decode_ncu.log"
  python3 tools/gpu/ncu_summary.py "$OUT/decode_ncu.csv" --steps 16
else
  echo "ncu not installed"
fi
