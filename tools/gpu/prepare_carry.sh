#!/usr/bin/env bash
# Prepares the git-ignored .carry/ folder that GPU runs take along (pass .carry and .whl in the
# device run's carry list; a run carries at most 64 MiB in all):
# - catch2/: Debian's Catch2 v2 header, CMake package files and static main (the GPU machine has
#   no Debian catch2); bench/gpu/run.sh and tools/gpu/run_gpu_tests.sh find it through
#   CMAKE_PREFIX_PATH=.carry/catch2;
# - models/: stories260K.gguf and one half of SmolLM2-135M-Instruct.Q4_1.gguf (98 MB, too large
#   for one run): `--part 1` (default) puts the first half in .carry/models; `--part 2` puts only
#   the second half in .carry-part2/models, for a second run (carry .carry-part2) that must follow
#   within the machine's idle window (status: idle_release_s); on the GPU machine
#   tools/gpu/assemble_models.sh joins them in models/ (kept between runs while the machine is
#   warm) and checks the sha256;
# - data/ (part 2 only): ../shared/data (3.4 MB), for the quality evaluation on the GPU machine
#   (CAB_SHARED_DIR=.carry-part2 eval/run_full.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
part=1
[ "${1:-}" = "--part" ] && part=${2:?--part needs 1 or 2}
dst=.carry
[ "$part" = 2 ] && dst=.carry-part2
rm -rf "$dst"
mkdir -p "$dst/models"
if [ "$part" = 1 ]; then
  mkdir -p "$dst/catch2/include" "$dst/catch2/lib/cmake"
  cp -r /usr/include/catch2 "$dst/catch2/include/"
  cp -r /usr/lib/cmake/Catch2 "$dst/catch2/lib/cmake/"
  for lib in $(dpkg -L catch2 | grep '\.a$'); do cp "$lib" "$dst/catch2/lib/"; done
  cp models/stories260K.gguf "$dst/models/"
fi

smol=models/SmolLM2-135M-Instruct.Q4_1.gguf
for f in models/stories260K.gguf "$smol"; do
  [ -f "$f" ] || { echo "missing $f: run tools/prepare_models.sh first" >&2; exit 1; }
done
size=$(stat -c %s "$smol")
half=$(((size + 1) / 2))
sha256sum "$smol" | cut -d' ' -f1 >"$dst/models/smollm2.sha256"
if [ "$part" = 1 ]; then
  head -c "$half" "$smol" >"$dst/models/smollm2.part1"
else
  tail -c +"$((half + 1))" "$smol" >"$dst/models/smollm2.part2"
  cp -r ../shared/data "$dst/"
fi
echo "prepared $dst (part $part, $(du -sh "$dst" | cut -f1)); carry $dst (and .whl)"
