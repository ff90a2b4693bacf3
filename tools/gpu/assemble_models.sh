#!/usr/bin/env bash
# On the GPU machine: moves the models carried in .carry/models (tools/gpu/prepare_carry.sh) into
# models/, joining SmolLM2's two halves once both have come (one per run; models/ is kept between
# runs while the machine is warm). Prints what models/ holds.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p models
for src in .carry/models .carry-part2/models; do
  [ -d "$src" ] || continue
  for f in stories260K.gguf smollm2.part1 smollm2.part2 smollm2.sha256; do
    if [ -f "$src/$f" ]; then cp "$src/$f" models/; fi
  done
done
smol=models/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -f "$smol" ] && [ -f models/smollm2.part1 ] && [ -f models/smollm2.part2 ]; then
  cat models/smollm2.part1 models/smollm2.part2 >"$smol.tmp"
  if [ "$(sha256sum "$smol.tmp" | cut -d' ' -f1)" = "$(cat models/smollm2.sha256)" ]; then
    mv "$smol.tmp" "$smol" && rm -f models/smollm2.part1 models/smollm2.part2
  else
    echo "assemble_models: SmolLM2 halves do not match the sha256" >&2
    rm -f "$smol.tmp"
  fi
fi
ls -la models/
