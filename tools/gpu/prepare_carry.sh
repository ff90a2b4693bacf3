#!/usr/bin/env bash
# Prepares the git-ignored folders that GPU runs take along (pass them, and .whl, in the device
# run's carry list; a run carries at most 64 MiB in all, the working tree included):
# - .carry/catch2/: Debian's Catch2 v2 header, CMake package files and static main (the GPU
#   machine has no Debian catch2); bench/gpu/run.sh and tools/gpu/run_gpu_tests.sh find it
#   through CMAKE_PREFIX_PATH=.carry/catch2;
# - models: stories260K.gguf and SmolLM2-135M-Instruct.Q4_1.gguf (98 MB, too large for one run),
#   cut in two so that both runs carry as much: `--part 1` (default) puts Catch2, stories260K and
#   the first piece of SmolLM2 in .carry; `--part 2` puts only the rest of SmolLM2 in
#   .carry-part2/models, for a second run (carry .carry-part2) that must follow within the
#   machine's idle window (status: idle_release_s); on the GPU machine
#   tools/gpu/assemble_models.sh joins them in models/ (kept between runs while the machine is
#   warm) and checks the sha256;
# - `--part data`: ../shared/data (3.4 MB) in .carry-data, for the quality evaluation on the GPU
#   machine (CAB_SHARED_DIR=.carry-data eval/run_full.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
part=1
[ "${1:-}" = "--part" ] && part=${2:?--part needs 1, 2 or data}
case $part in
  1) dst=.carry ;;
  2) dst=.carry-part2 ;;
  data) dst=.carry-data ;;
  *) echo "usage: tools/gpu/prepare_carry.sh [--part 1|2|data]" >&2; exit 2 ;;
esac
rm -rf "$dst"
if [ "$part" = data ]; then
  mkdir -p "$dst"
  cp -r ../shared/data "$dst/"
  echo "prepared $dst ($(du -sh "$dst" | cut -f1)); carry $dst"
  exit 0
fi

smol=models/SmolLM2-135M-Instruct.Q4_1.gguf
for f in models/stories260K.gguf "$smol"; do
  [ -f "$f" ] || { echo "missing $f: run tools/prepare_models.sh first" >&2; exit 1; }
done
mapfile -t catch2_libs < <(dpkg -L catch2 | grep '\.a$')
catch2_files=(/usr/include/catch2 /usr/lib/cmake/Catch2 "${catch2_libs[@]}")
# Part 1's other files, so that the cut leaves both parts the same size (the same on both runs).
extras=$(du -scb "${catch2_files[@]}" models/stories260K.gguf | tail -1 | cut -f1)
size=$(stat -c %s "$smol")
cut=$(((size - extras) / 2))
mkdir -p "$dst/models"
sha256sum "$smol" | cut -d' ' -f1 >"$dst/models/smollm2.sha256"
if [ "$part" = 1 ]; then
  mkdir -p "$dst/catch2/include" "$dst/catch2/lib/cmake"
  cp -r /usr/include/catch2 "$dst/catch2/include/"
  cp -r /usr/lib/cmake/Catch2 "$dst/catch2/lib/cmake/"
  cp "${catch2_libs[@]}" "$dst/catch2/lib/"
  cp models/stories260K.gguf "$dst/models/"
  head -c "$cut" "$smol" >"$dst/models/smollm2.part1"
else
  tail -c +"$((cut + 1))" "$smol" >"$dst/models/smollm2.part2"
fi
echo "prepared $dst (part $part, $(du -sh "$dst" | cut -f1)); carry $dst (and .whl)"
