#!/usr/bin/env bash
# Static checks of the compiled tensor-core attention kernels (tools/ci/sass_checks.py): no
# register of an in-flight wgmma written before the wait that retires it, and no spills. Needs no
# GPU: it reads the sm_90a code in the build's CUDA objects with cuobjdump and nvdisasm, the
# toolkit's when it has them, else those of NVIDIA's PyPI wheels (pinned, checked, unpacked once
# into <build-dir>/sass-tools).
#   tools/ci/sass_checks.sh [build-dir]     (default: build)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
mapfile -t objects < <(find "$build/cuda" -path '*attention*' -name '*.cu.o' 2>/dev/null | sort)
if [ ${#objects[@]} -eq 0 ]; then
  echo "sass checks: no CUDA objects in $build (built without nvcc): skipped"
  exit 0
fi

# cuobjdump -sass runs nvdisasm, so both come from one place.
nvcc=$(sed -n 's/^CMAKE_CUDA_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
bin=""
for dir in "$(dirname "${nvcc:-/nonexistent/nvcc}")" "${CUDA_HOME:-/usr/local/cuda}/bin"; do
  if [ -x "$dir/cuobjdump" ] && [ -x "$dir/nvdisasm" ]; then bin=$dir && break; fi
done
if [ -z "$bin" ]; then
  tools=$build/sass-tools
  bin=$tools/nvidia/cu13/bin
  if [ ! -x "$bin/cuobjdump" ] || [ ! -x "$bin/nvdisasm" ]; then
    echo "sass checks: fetching cuobjdump and nvdisasm 13.5.37 from PyPI"
    py=python3
    [ -x .venv/bin/python ] && py=.venv/bin/python
    rm -rf "$tools" && mkdir -p "$tools/wheels"
    $py -m pip download -q --disable-pip-version-check --no-deps -d "$tools/wheels" \
      nvidia-cuda-cuobjdump==13.5.37 nvidia-cuda-nvdisasm==13.5.37
    (
      cd "$tools/wheels"
      sha256sum -c --quiet - <<'EOF'
38780fee50863252a0b8926357faa91615ca1c8346490563f33a06100cd73f58  nvidia_cuda_cuobjdump-13.5.37-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
d3fdbdd49fa53e2e4aacd3db8259d052bd2b049ececdcb69e92e083c6728e7ca  nvidia_cuda_nvdisasm-13.5.37-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
EOF
    )
    for wheel in "$tools"/wheels/*.whl; do $py -m zipfile -e "$wheel" "$tools"; done
    chmod +x "$bin/cuobjdump" "$bin/nvdisasm"
  fi
fi

out=$build/sass-checks
mkdir -p "$out"
: >"$out/kernels.sass"
: >"$out/res_usage.txt"
for obj in "${objects[@]}"; do
  PATH=$bin:$PATH cuobjdump -sass "$obj" >>"$out/kernels.sass"
  PATH=$bin:$PATH cuobjdump -res-usage "$obj" >>"$out/res_usage.txt"
done
python3 tools/ci/sass_checks.py "$out/kernels.sass" "$out/res_usage.txt"
