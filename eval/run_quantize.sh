#!/usr/bin/env bash
# Int8 KV rows against eviction at equal KV memory (issue 8; docs/QUALITY.md, "Int8 rows:
# budgets of memory") on SmolLM2-135M-Instruct, then its report: the tasks at 1k, 2k and 4k
# tokens and five depths; snapkv (eviction alone), quantize (every token kept, the older ones in
# int8: one memory share, about 54-56%) and quantize+snapkv (int8, then snapkv to the memory of
# snapkv at the same budget) at 10%, 25% and 50% memory, against the dense reference.
# Resumable: run it again after an interruption (or a time limit) and it continues.
#   eval/run_quantize.sh
# Settings (environment):
#   CAB_BUILD_DIR     build folder with bin/cab (default build; built if missing)
#   CAB_SHARED_DIR    the shared folder with data/ (default ../shared)
#   CAB_EVAL_OUT      results file (default eval/results/smollm2_quantize.jsonl); the report goes
#                     beside it, named after it, and a gzipped copy of the results (the one to
#                     commit: *.jsonl is not tracked)
#   CAB_EVAL_SAMPLES  samples per (task, length, depth) (default 4: 60 per task and cell)
#   CAB_EVAL_TASKS    tasks (default passkey,needle,multikey,qa,xsum)
#   CAB_EVAL_LENGTHS  prompt lengths in tokens (default 1024,2048,4096)
#   CAB_EVAL_DEPTHS   depths of the fact, percent (default 0,25,50,75,100)
#   CAB_EVAL_BUDGETS  memory budgets of the eviction rows (default 10%,25%,50%)
#   CAB_EVAL_RECENT   tokens per stream the quantize rows keep in full precision (default: the
#                     library's quantize_recent, 64); when set, the rows are named with it
#                     (quantize:r32, quantize+snapkv:r32)
#   CAB_EVAL_FP8      1: also the rows quantize:fp8 and quantize+snapkv:fp8 (fp8 E4M3 blocks, the
#                     same memory as int8; on a context of their own)
#   CAB_EVAL_DEVICE   auto, cuda or cpu (default auto: the GPU when there is one)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${CAB_BUILD_DIR:-build}
shared=${CAB_SHARED_DIR:-../shared}
out=${CAB_EVAL_OUT:-eval/results/smollm2_quantize.jsonl}
samples=${CAB_EVAL_SAMPLES:-4}
tasks=${CAB_EVAL_TASKS:-passkey,needle,multikey,qa,xsum}
lengths=${CAB_EVAL_LENGTHS:-1024,2048,4096}
depths=${CAB_EVAL_DEPTHS:-0,25,50,75,100}
budgets=${CAB_EVAL_BUDGETS:-10%,25%,50%}
recent=${CAB_EVAL_RECENT:+:r$CAB_EVAL_RECENT}
device=${CAB_EVAL_DEVICE:-auto}
policies="full,snapkv,quantize$recent,quantize+snapkv$recent"
if [ "${CAB_EVAL_FP8:-0}" = 1 ]; then
  policies+=",quantize:fp8$recent,quantize+snapkv:fp8$recent"
fi
model=models/SmolLM2-135M-Instruct.Q4_1.gguf

[ -s "$model" ] || tools/prepare_models.sh
if [ ! -x "$build/bin/cab" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$(nproc)" --target cab_cli
fi
mkdir -p "$(dirname "$out")"

"$build/bin/cab" eval -m "$model" --data "$shared/data" --out "$out" --device "$device" \
  --tasks "$tasks" --lengths "$lengths" --depths "$depths" --samples "$samples" \
  --policies "$policies" --budgets "$budgets"

python3 eval/report.py "$out" --out-dir "$(dirname "$out")" --budget 50%
gzip -kf "$out"
