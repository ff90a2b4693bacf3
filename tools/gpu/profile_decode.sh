#!/usr/bin/env bash
# On the GPU machine: where a batch-1 decode step of the 0.5B-shaped random model spends its time.
# Builds bench_generate, makes the model (bench/gpu/e2e/make_random_model.py), times decode with
# CUDA graphs on and off, and when nsys is installed prints the kernel summary of a short run.
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
if command -v nsys >/dev/null; then
  nsys profile -o "$OUT/decode" --force-overwrite true --stats=false \
    $BUILD/bin/bench_generate --model "$model" --device cuda --prompt 64 --chunk 64 --batch 1 \
    --decode-prompt 32 --steps 32 --warmup 4 --reps 1 >/dev/null 2>&1
  nsys stats -q --report cuda_gpu_kern_sum --format csv "$OUT/decode.nsys-rep" 2>/dev/null |
    python3 -c "
import csv, sys
rows = list(csv.DictReader(sys.stdin))
tot = sum(float(r['Total Time (ns)']) for r in rows)
print('kernels: %d launches, %.2f ms GPU time' % (sum(int(r['Instances']) for r in rows), tot / 1e6))
for r in rows[:14]:
    print('%6s x %8.1f us  %5.1f%%  %s' % (r['Instances'], float(r['Avg (ns)']) / 1e3,
          float(r['Time (%)']), r['Name'][:90]))"
  nsys stats -q --report cuda_api_sum --format csv "$OUT/decode.nsys-rep" 2>/dev/null | head -12
  rm -f "$OUT"/decode.nsys-rep "$OUT"/decode.sqlite
else
  echo "nsys not installed"
fi
