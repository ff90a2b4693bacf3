#!/usr/bin/env bash
# Builds libcab's Debian and RPM packages (docs/ABI.md, packaging/packages.cmake) into
# BUILD_DIR/packages, from a Release build with Debian's hardening flags and debug info (-g: the
# ABI checks read the unstripped library in BUILD_DIR/lib; cpack strips what it packages).
# The CUDA backend is always off here: packages built on a machine with nvcc would otherwise
# link libcudart. The RPM pass reconfigures the same build for lib64 and RPM's file layout; no
# object is rebuilt.
#   tools/ci/build_packages.sh [BUILD_DIR]                default BUILD_DIR: build-packages
#   tools/ci/build_packages.sh --build-only [BUILD_DIR]   configure and build, no packages
set -euo pipefail
cd "$(dirname "$0")/../.."
build_only=0
if [ "${1:-}" = "--build-only" ]; then
  build_only=1
  shift
fi
build="${1:-build-packages}"

export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cppflags=$(dpkg-buildflags --get CPPFLAGS)
cflags="$(dpkg-buildflags --get CFLAGS) $cppflags"
cxxflags="$(dpkg-buildflags --get CXXFLAGS) $cppflags"
ldflags=$(dpkg-buildflags --get LDFLAGS)

configure() {
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCAB_CUDA=OFF -DCAB_BUILD_TESTS=OFF \
    -DCMAKE_INSTALL_PREFIX=/usr "-DCMAKE_C_FLAGS=$cflags" "-DCMAKE_CXX_FLAGS=$cxxflags" \
    "-DCMAKE_SHARED_LINKER_FLAGS=$ldflags" "-DCMAKE_EXE_LINKER_FLAGS=$ldflags" "$@" >/dev/null
}

configure -UCMAKE_INSTALL_LIBDIR -DCMAKE_INSTALL_SO_NO_EXE=ON -DCAB_PACKAGE_LAYOUT=DEB
cmake --build "$build" -j"$(nproc)"
[ "$build_only" -eq 1 ] && exit 0

out="$PWD/$build/packages"
rm -rf "$out"
(cd "$build" && cpack -G DEB -B "$out" >/dev/null)
configure -DCMAKE_INSTALL_LIBDIR=lib64 -DCMAKE_INSTALL_SO_NO_EXE=OFF -DCAB_PACKAGE_LAYOUT=RPM
(cd "$build" && cpack -G RPM -B "$out" >/dev/null)
rm -rf "$out/_CPack_Packages"
ls -1 "$out"
