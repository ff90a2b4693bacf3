#!/usr/bin/env bash
# On the GPU machine: moves the models carried in .carry/models and .carry-partN/models
# (tools/gpu/prepare_carry.sh) into models/, joining SmolLM2's pieces once all have come (one per
# run; models/ is kept between runs while the machine is warm). Prints what models/ holds.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p models
for src in .carry/models .carry-part*/models; do
  [ -d "$src" ] || continue
  for f in "$src"/stories260K.gguf "$src"/smollm2.*; do
    if [ -f "$f" ]; then cp "$f" models/; fi
  done
done
smol=models/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -f "$smol" ] && [ -f models/smollm2.parts ]; then
  parts=$(cat models/smollm2.parts)
  pieces=()
  for k in $(seq "$parts"); do pieces+=("models/smollm2.part$k"); done
  missing=0
  for f in "${pieces[@]}"; do [ -f "$f" ] || missing=$((missing + 1)); done
  if [ "$missing" -gt 0 ]; then
    echo "assemble_models: SmolLM2 waits for $missing of its $parts pieces (carry the next part)"
  else
    cat "${pieces[@]}" >"$smol.tmp"
    if [ "$(sha256sum "$smol.tmp" | cut -d' ' -f1)" = "$(cat models/smollm2.sha256)" ]; then
      mv "$smol.tmp" "$smol" && rm -f "${pieces[@]}"
    else
      echo "assemble_models: SmolLM2's pieces do not match the sha256" >&2
      rm -f "$smol.tmp"
    fi
  fi
fi
ls -la models/
