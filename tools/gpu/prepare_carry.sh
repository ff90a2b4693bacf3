#!/usr/bin/env bash
# Prepares the git-ignored .carry/ folder that GPU runs take along (the GPU machine has no
# Debian catch2): a copy of Debian's Catch2 v2 header, CMake package files and static main.
# bench/gpu/run.sh finds it through CMAKE_PREFIX_PATH=.carry/catch2.
set -euo pipefail
cd "$(dirname "$0")/../.."
dst=.carry/catch2
rm -rf "$dst"
mkdir -p "$dst/include" "$dst/lib/cmake"
cp -r /usr/include/catch2 "$dst/include/"
cp -r /usr/lib/cmake/Catch2 "$dst/lib/cmake/"
for lib in $(dpkg -L catch2 | grep '\.a$'); do cp "$lib" "$dst/lib/"; done
echo "prepared $dst ($(du -sh "$dst" | cut -f1)); pass .carry in the device run's carry list"
