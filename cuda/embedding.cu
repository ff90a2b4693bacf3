// Embedding lookup: a grid-stride loop over (row, chunk) pairs; a chunk is 8 columns (one 16-byte
// bf16 load, two 16-byte f32 stores) when cols % 8 == 0 and both matrices are 16-byte aligned,
// else one column.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "attention/launch.h"
#include "embedding.cuh"
#include "util/error.h"

namespace cab::cuda::embedding {
namespace {

using bf16 = __nv_bfloat16;

constexpr int kThreads = 256;
constexpr int kVec = 8;
constexpr int64_t kMaxBlocks = 65536;

template <bool kVector>
__global__ void gather_kernel(const bf16 *table, const int32_t *tokens, float *out, int32_t rows,
                              int32_t cols) {
    constexpr int kWidth = kVector ? kVec : 1;
    const int64_t per_row = cols / kWidth;
    const int64_t units = static_cast<int64_t>(rows) * per_row;
    for (int64_t u = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; u < units;
         u += static_cast<int64_t>(gridDim.x) * kThreads) {
        const int64_t row = u / per_row, col = (u % per_row) * kWidth;
        const bf16 *src = table + static_cast<int64_t>(tokens[row]) * cols + col;
        float *dst = out + row * cols + col;
        if constexpr (kVector) {
            const uint4 raw = *reinterpret_cast<const uint4 *>(src);
            const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&raw);
            float2 f[kVec / 2];
#pragma unroll
            for (int i = 0; i < kVec / 2; ++i) f[i] = __bfloat1622float2(h[i]);
            reinterpret_cast<float4 *>(dst)[0] = make_float4(f[0].x, f[0].y, f[1].x, f[1].y);
            reinterpret_cast<float4 *>(dst)[1] = make_float4(f[2].x, f[2].y, f[3].x, f[3].y);
        } else {
            *dst = __bfloat162float(*src);
        }
    }
}

bool aligned16(const void *p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

unsigned grid_for(int64_t units) {
    return static_cast<unsigned>(
        std::clamp<int64_t>((units + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

}  // namespace

void gather(const void *table, const int32_t *tokens, float *out, int32_t rows, int32_t cols,
            cudaStream_t stream) {
    require(rows >= 0, CAB_ERR_INVALID_ARGUMENT,
            "embedding gather: rows " + std::to_string(rows) + " < 0");
    require(cols > 0, CAB_ERR_INVALID_ARGUMENT,
            "embedding gather: cols " + std::to_string(cols) + " <= 0");
    require(rows == 0 || (table && tokens && out), CAB_ERR_INVALID_ARGUMENT,
            "embedding gather: null table, tokens or out");
    if (rows == 0) return;
    const bf16 *t = static_cast<const bf16 *>(table);
    const int64_t n = static_cast<int64_t>(rows) * cols;
    if (cols % kVec == 0 && aligned16(table) && aligned16(out))
        gather_kernel<true>
            <<<grid_for(n / kVec), kThreads, 0, stream>>>(t, tokens, out, rows, cols);
    else
        gather_kernel<false><<<grid_for(n), kThreads, 0, stream>>>(t, tokens, out, rows, cols);
    attention::check_launch("embedding gather");
}

}  // namespace cab::cuda::embedding
