#!/usr/bin/env bash
# Installs what building and testing libcab needs on Debian 12: compilers, CMake, Catch2,
# OpenBLAS, and a Python virtual environment (.venv) with the pinned packages of
# tools/requirements.txt. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake pkg-config catch2 libopenblas-dev python3 python3-venv python3-pip)
# Packaging and ABI checks (tools/ci/packaging_checks.sh): dpkg-shlibdeps, rpmbuild, abidiff.
packages+=(dpkg-dev file rpm lintian abigail-tools)
# The bindings (docs/BINDINGS.md): SWIG + Mono for C#, Go, Debian's Rust toolchain and bindgen.
packages+=(swig mono-mcs mono-runtime golang-go cargo rustc rustfmt bindgen libclang-dev)
# The quality report's plots (eval/report.py, docs/QUALITY.md).
packages+=(python3-matplotlib)
# The libFuzzer targets (tests/fuzz, docs/RELIABILITY.md): clang and its sanitizer and fuzzer
# runtimes (libclang_rt.fuzzer is only a recommendation of clang, which is not installed here).
packages+=(clang libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install_deps: apt-get install ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "install_deps: creating .venv"
  python3 -m venv .venv
fi
if ! cmp -s tools/requirements.txt .venv/.requirements.installed; then
  echo "install_deps: pip install -r tools/requirements.txt"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r tools/requirements.txt
  cp tools/requirements.txt .venv/.requirements.installed
fi
