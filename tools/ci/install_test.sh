#!/usr/bin/env bash
# Installs the libcab Debian packages on this machine (dpkg -i, as root), builds and runs a small
# C program against them twice, through pkg-config and through find_package(cab) in a CMake
# project (tests/install/), checks the cab tool, then purges the packages and checks that they
# left nothing behind. The packages are removed on failure too.
#   tools/ci/install_test.sh [--no-build] [BUILD_DIR]   default BUILD_DIR: build-packages
#   --no-build: use the packages already in BUILD_DIR/packages (tools/ci/packaging_checks.sh)
set -euo pipefail
# Pipes end in `grep ... >/dev/null`, not `grep -q`: -q exits at the first match, and under
# pipefail the writer's SIGPIPE (ldd, ldconfig -p) would then fail the check at random.
cd "$(dirname "$0")/../.."
build_first=1
if [ "${1:-}" = "--no-build" ]; then
  build_first=0
  shift
fi
build="${1:-build-packages}"
model="$PWD/tests/golden/tiny_llama.gguf"
packages=(libcab-tools libcab-dev libcab0)

fail() {
  echo "install_test: $*"
  exit 1
}
[ "$(id -u)" -eq 0 ] || fail "needs root (dpkg -i)"
[ -f "$model" ] || fail "no $model: tools/golden/make_tiny_models.py writes it"
[ "$build_first" -eq 0 ] || tools/ci/build_packages.sh "$build"
debs=()
for p in "${packages[@]}"; do
  deb=$(ls "$build"/packages/"${p}"_*.deb 2>/dev/null || true)
  [ -n "$deb" ] || fail "no $p package in $build/packages"
  debs+=("$deb")
done

installed() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep '^.[^n]' >/dev/null; }
purge() {
  local present=()
  for p in "${packages[@]}"; do
    if installed "$p"; then present+=("$p"); fi
  done
  [ ${#present[@]} -eq 0 ] || dpkg --purge "${present[@]}" >/dev/null
}
work=$(mktemp -d)
cleanup() {
  purge
  rm -rf "$work"
}
trap cleanup EXIT
for p in "${packages[@]}"; do
  if installed "$p"; then
    echo "install_test: $p is installed already (an earlier run?); purging it first"
  fi
done
purge

echo "== dpkg -i ${debs[*]##*/}"
dpkg -i "${debs[@]}"
for p in "${packages[@]}"; do dpkg-query -L "$p"; done | LC_ALL=C sort -u > "$work/files"
ldconfig -p | grep 'libcab.so.0 ' >/dev/null || fail "libcab.so.0 is not in the ldconfig cache"
version=$(pkg-config --modversion cab) || fail "pkg-config does not find cab.pc"
[ "$(cab --version)" = "cab $version" ] || fail "cab --version says '$(cab --version)'"
cab info "$model" | grep '^architecture: *llama' >/dev/null || fail "cab info failed"

echo "== C program through pkg-config (cab $version: $(pkg-config --cflags --libs cab))"
# shellcheck disable=SC2046 # pkg-config prints separate words
cc -std=c99 -Wall -Wextra -Werror -pedantic tests/install/smoke.c \
  $(pkg-config --cflags --libs cab) -o "$work/smoke-pkgconfig"
ldd "$work/smoke-pkgconfig" | grep -E 'libcab.so.0 => (/usr)?/lib/' >/dev/null ||
  fail "the program does not load the installed libcab: $(ldd "$work/smoke-pkgconfig" | grep cab)"
"$work/smoke-pkgconfig" "$model" | tee "$work/pkgconfig.out"

echo "== C program through find_package(cab) (tests/install/cmake)"
cmake -S tests/install/cmake -B "$work/cmake" > "$work/cmake.log" ||
  fail "configuring tests/install/cmake failed: $(cat "$work/cmake.log")"
grep 'found cab' "$work/cmake.log"
grep -q "found cab $version in /usr/lib/" "$work/cmake.log" || fail "not the installed package"
cmake --build "$work/cmake" > /dev/null
"$work/cmake/smoke" "$model" | tee "$work/cmake.out"
cmp -s "$work/pkgconfig.out" "$work/cmake.out" || fail "the two builds generate different tokens"
if cmake -S tests/install/cmake -B "$work/cmake-1" -DCAB_REQUIRED_VERSION=1.0 \
  > "$work/cmake-1.log" 2>&1; then
  fail "find_package(cab 1.0) accepted cab $version (the version file must be SameMajorVersion)"
fi
echo "find_package(cab 1.0) refuses $version, as SameMajorVersion says"

echo "== dpkg --purge ${packages[*]}"
dpkg --purge "${packages[@]}"
for p in "${packages[@]}"; do
  ! installed "$p" || fail "$p is still installed"
  ! ls /var/lib/dpkg/info/"$p".* > /dev/null 2>&1 || fail "dpkg still keeps files of $p"
done
left=()
while read -r path; do
  if [ -L "$path" ] || [ -f "$path" ]; then
    left+=("$path")
  elif [ -d "$path" ] && ! dpkg-query -S "$path" > /dev/null 2>&1; then
    left+=("$path/")
  fi
done < "$work/files"
[ ${#left[@]} -eq 0 ] || fail "left behind after purge: ${left[*]}"
! ldconfig -p | grep 'libcab' >/dev/null || fail "libcab is still in the ldconfig cache"
echo "install_test: passed (installed, built against with pkg-config and CMake, purged clean)"
