#!/usr/bin/env bash
# For a release: makes the library as built now the ABI baseline that later builds are checked
# against (tests/abi/baseline/libcab-VERSION.abi, and tests/abi/symbols.txt). Within one major
# version it first runs tools/ci/check_abi.sh against the previous baseline and refuses a library
# that fails it, so a break cannot become the baseline; after a major bump (a new SONAME) it takes
# the new ABI, and the new major's header should be frozen too (docs/ABI.md).
#   tools/ci/update_abi_baseline.sh [BUILD_DIR]          default BUILD_DIR: build-packages
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build-packages}"
tools/ci/build_packages.sh --build-only "$build"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
lib="$build/lib/libcab.so.${version%%.*}"
new="tests/abi/baseline/libcab-$version.abi"
tests/abi/abi_dump.sh "$lib" include/cab "$build/libcab.abi"

old_soname=$(grep -ho "soname='[^']*'" tests/abi/baseline/*.abi)
if [ "$old_soname" = "$(grep -o "soname='[^']*'" "$build/libcab.abi")" ]; then
  cp tests/abi/symbols.txt "$build/symbols.txt.old"
  tests/abi/list_symbols.sh "$lib" > tests/abi/symbols.txt
  if ! tools/ci/check_abi.sh "$build"; then
    mv "$build/symbols.txt.old" tests/abi/symbols.txt
    echo "update_abi_baseline: $version fails the ABI checks against the current baseline;"
    echo "fix it, or make it a major release (docs/ABI.md); nothing was changed"
    exit 1
  fi
  rm "$build/symbols.txt.old"
else
  echo "update_abi_baseline: new SONAME ($old_soname before): a major release"
  tests/abi/list_symbols.sh "$lib" > tests/abi/symbols.txt
fi
for old in tests/abi/baseline/*.abi; do
  [ "$old" = "$new" ] || rm "$old"
done
mv "$build/libcab.abi" "$new"
echo "ABI baseline is now $new; commit tests/abi/ with the release"
