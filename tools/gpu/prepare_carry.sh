#!/usr/bin/env bash
# Prepares the git-ignored folders that GPU runs take along (pass them, and .whl, in the device
# run's carry list; a run carries at most 64 MiB in all, the working tree included):
# - .carry/catch2/: Debian's Catch2 v2 header, CMake package files and static main (the GPU
#   machine has no Debian catch2); bench/gpu/run.sh and tools/gpu/run_gpu_tests.sh find it
#   through CMAKE_PREFIX_PATH=.carry/catch2;
# - models: stories260K.gguf and SmolLM2-135M-Instruct.Q4_1.gguf (98 MB, too large for one run),
#   cut into as many pieces as the working tree's size leaves room for (three with a tree of
#   18 MB), each run carrying about as much: `--part 1` (default) puts Catch2, stories260K and
#   the first piece of SmolLM2 in .carry; `--part N` (N >= 2) puts piece N in .carry-partN/models,
#   for run N (carry .carry-partN), each following the one before within the machine's idle
#   window (status: idle_release_s); the script says how many parts there are. On the GPU
#   machine tools/gpu/assemble_models.sh, run in each of those runs, joins the pieces in models/
#   once all have come (kept between runs while the machine is warm) and checks the sha256;
# - `--part data`: ../shared/data (3.4 MB) in .carry-data, for the quality evaluation on the GPU
#   machine (CAB_SHARED_DIR=.carry-data eval/run_full.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
part=1
[ "${1:-}" = "--part" ] && part=${2:?--part needs a number or data}
case $part in
  1) dst=.carry ;;
  data) dst=.carry-data ;;
  [2-9]) dst=.carry-part$part ;;
  *) echo "usage: tools/gpu/prepare_carry.sh [--part N|data]" >&2; exit 2 ;;
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
# What every run carries besides its part: the working tree (tracked and untracked, not ignored
# files), and 2 MiB to spare. Part 1 also holds Catch2 and stories260K; the pieces are cut so that
# all parts come out the same size.
tree=$({ git ls-files -z; git ls-files -z --others --exclude-standard; } | du -cb --files0-from=- |
  tail -1 | cut -f1)
room=$((64 * 1024 * 1024 - tree - 2 * 1024 * 1024))
extras=$(du -scb "${catch2_files[@]}" models/stories260K.gguf | tail -1 | cut -f1)
size=$(stat -c %s "$smol")
parts=$(((size + extras + room - 1) / room))
per=$(((size + extras + parts - 1) / parts))
if [ "$part" -gt "$parts" ]; then
  echo "SmolLM2 is cut into $parts parts with this working tree: there is no part $part" >&2
  exit 2
fi
# Piece k of SmolLM2 covers bytes [start k, start k+1): piece 1 leaves room for part 1's other
# files.
start() { if [ "$1" -le 1 ]; then echo 0; else echo $((($1 - 1) * per - extras)); fi; }
from=$(start "$part")
to=$(start $((part + 1)))
[ "$part" -eq "$parts" ] && to=$size
mkdir -p "$dst/models"
sha256sum "$smol" | cut -d' ' -f1 >"$dst/models/smollm2.sha256"
echo "$parts" >"$dst/models/smollm2.parts"
if [ "$part" = 1 ]; then
  mkdir -p "$dst/catch2/include" "$dst/catch2/lib/cmake"
  cp -r /usr/include/catch2 "$dst/catch2/include/"
  cp -r /usr/lib/cmake/Catch2 "$dst/catch2/lib/cmake/"
  cp "${catch2_libs[@]}" "$dst/catch2/lib/"
  cp models/stories260K.gguf "$dst/models/"
fi
dd if="$smol" of="$dst/models/smollm2.part$part" bs=1M iflag=skip_bytes,count_bytes skip="$from" \
  count="$((to - from))" status=none
echo "prepared $dst (part $part of $parts, $(du -sh "$dst" | cut -f1)); carry $dst (and .whl)"
