#!/usr/bin/env bash
# The main job from a fresh Debian 12 clone: installs dependencies, fetches SmolLM2-135M-Instruct,
# builds libcab and the cab tool, and has the model answer a question with KV eviction on: a
# question-aware policy (snapkv) keeps 24 tokens per (layer, kv head) stream, about half of the
# conversation, and the KV figures are printed at the end.
#   tools/demo.sh ["your question"]
set -euo pipefail
cd "$(dirname "$0")/.."
question="${1:-What is the capital of France? Answer in one sentence.}"
tools/install_deps.sh
tools/prepare_models.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target cab_cli
build/bin/cab generate --chat -m models/SmolLM2-135M-Instruct.Q4_1.gguf -n 96 \
  --policy snapkv --budget 24 --slack 4 -p "$question"
