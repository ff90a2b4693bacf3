#!/usr/bin/env bash
# Inspects the packages of tools/ci/build_packages.sh: lintian on the debs (an error or an
# unexplained warning fails; the overrides in packaging/debian/lintian-overrides/ say why each
# tag does not apply), their control fields, and rpm -qpi/-qpl/-qpR of the RPMs with the few
# facts the RPMs must show (library, devel files, requirements).
#   tools/ci/lint_packages.sh [BUILD_DIR]          default BUILD_DIR: build-packages
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build-packages}"
dir="$build/packages"

fail() {
  echo "lint_packages: $*"
  exit 1
}
version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
for p in libcab0 libcab-dev libcab-tools; do
  [ -f "$dir/${p}_${version}_$(dpkg --print-architecture).deb" ] ||
    fail "no $p $version in $dir: is packaging/debian/changelog at the version of CMakeLists.txt?"
done
rpm_version=$(sed -n '1s/.* - //p' packaging/rpm/changelog)
[ "$rpm_version" = "$version" ] ||
  fail "packaging/rpm/changelog is at $rpm_version, packaging/debian/changelog at $version"

echo "== lintian"
# One run shows every tag, overridden ones included (with --show-overrides, lintian's own
# --fail-on would count those too), so the verdict is read from the tags.
lintian --pedantic --display-info --show-overrides "$dir"/*.deb > "$build/lintian.txt" 2>&1 ||
  fail "lintian did not run: $(cat "$build/lintian.txt")"
grep -E '^[A-Z]: ' "$build/lintian.txt" || true
count() { grep -c "^$1: " "$build/lintian.txt" || true; }
summary="lintian: $(count E) errors, $(count W) warnings, $(count I) info, $(count P) pedantic,"
summary+=" $(count O) overridden"
echo "$summary" | tee "$build/lintian-summary.txt"
if [ "$(count E)" -ne 0 ] || [ "$(count W)" -ne 0 ]; then
  fail "lintian errors or warnings: fix them, or override with a reason (packaging/debian/)"
fi

for deb in "$dir"/*.deb; do
  echo "== ${deb##*/}"
  dpkg-deb -f "$deb" Package Version Section Depends
done

for rpm_file in "$dir"/*.rpm; do
  echo "== ${rpm_file##*/}"
  rpm -qpi "$rpm_file" | grep -E '^(Name|Version|Release|License|Summary) '
  echo "-- rpm -qpl"
  rpm -qpl "$rpm_file"
  echo "-- rpm -qpR"
  rpm -qpR "$rpm_file"
done
rpm_of() { echo "$dir/$1-${version%-*}-${version##*-}.$(uname -m).rpm"; }
rpm -qpl "$(rpm_of libcab)" | grep -x '/usr/lib64/libcab.so.0' >/dev/null || fail "libcab lacks libcab.so.0"
rpm -qp --provides "$(rpm_of libcab)" | grep '^libcab.so.0(CAB_0)' >/dev/null ||
  fail "libcab does not provide the CAB_0 symbol version"
rpm -qpl "$(rpm_of libcab-devel)" | grep -x '/usr/lib64/pkgconfig/cab.pc' >/dev/null ||
  fail "libcab-devel lacks cab.pc"
rpm -qpR "$(rpm_of libcab-devel)" | grep -x "libcab = $version" >/dev/null ||
  fail "libcab-devel does not require libcab = $version"
rpm -qpR "$(rpm_of libcab-tools)" | grep '^libcab.so.0()' >/dev/null ||
  fail "libcab-tools does not require libcab.so.0"
echo "lint_packages: passed"
