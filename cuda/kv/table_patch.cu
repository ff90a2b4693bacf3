#include <algorithm>

#include "attention/launch.h"
#include "kv/table_patch.cuh"

namespace cab::cuda::kv {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 1024;

__global__ void patch_tables_kernel(int32_t *tables, const TablePatch *patches, int32_t n) {
    for (int32_t i = blockIdx.x * kThreads + threadIdx.x; i < n; i += gridDim.x * kThreads) {
        const TablePatch p = patches[i];
        tables[p.index] = p.value;
    }
}

}  // namespace

void patch_tables(int32_t *tables, const TablePatch *patches, int32_t n, cudaStream_t stream) {
    if (n <= 0) return;
    const int blocks = std::min(kMaxBlocks, (n + kThreads - 1) / kThreads);
    patch_tables_kernel<<<blocks, kThreads, 0, stream>>>(tables, patches, n);
    attention::check_launch("kv::patch_tables");
}

}  // namespace cab::cuda::kv
