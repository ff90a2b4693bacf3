#!/usr/bin/env bash
# The full quality evaluation (docs/QUALITY.md) on SmolLM2-135M-Instruct, then its report:
# every task at 1k, 2k and 4k tokens and five depths, every policy (and the question-aware
# window-score variants, and snapkv with the pool that reaches after a hit: snapkv:k15:s7) at 5%,
# 10%, 20%, 50% and 128 tokens, against the dense reference.
# Resumable: run it again after an interruption (or a time limit) and it continues.
#   eval/run_full.sh
# Settings (environment):
#   CAB_BUILD_DIR     build folder with bin/cab (default build; built if missing)
#   CAB_SHARED_DIR    the shared folder with data/ (default ../shared)
#   CAB_EVAL_OUT      results file (default eval/results/smollm2_full.jsonl); the report goes
#                     beside it, named after it
#   CAB_EVAL_SAMPLES  samples per (task, length, depth) (default 4: 60 per task and cell)
#   CAB_EVAL_DEVICE   auto, cuda or cpu (default auto: the GPU when there is one)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${CAB_BUILD_DIR:-build}
shared=${CAB_SHARED_DIR:-../shared}
out=${CAB_EVAL_OUT:-eval/results/smollm2_full.jsonl}
samples=${CAB_EVAL_SAMPLES:-4}
device=${CAB_EVAL_DEVICE:-auto}
model=models/SmolLM2-135M-Instruct.Q4_1.gguf

[ -s "$model" ] || tools/prepare_models.sh
if [ ! -x "$build/bin/cab" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$(nproc)" --target cab_cli
fi
mkdir -p "$(dirname "$out")"

"$build/bin/cab" eval -m "$model" --data "$shared/data" --out "$out" --device "$device" \
  --tasks passkey,needle,multikey,qa,xsum --lengths 1024,2048,4096 --depths 0,25,50,75,100 \
  --samples "$samples" \
  --policies full,random,window,h2o,tova,snapkv,cab,cab-frc,h2o:window,cab:window,cab-frc:window,chunkkv,snapkv:k15:s7 \
  --budgets 5%,10%,20%,50%,128

python3 eval/report.py "$out" --out-dir "$(dirname "$out")" --budget 10%
