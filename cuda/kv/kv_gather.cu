// KV read-out: grid-stride loops over a stream's slots (int8 rows dequantized). Rows go 8 columns
// at a time (one 16-byte bf16 load, two 16-byte f32 stores) when head_dim % 8 == 0 and pool and out
// are 16-byte aligned, else one column at a time; scores one float per thread, kind-major so stores
// coalesce.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "attention/launch.h"
#include "kv/kv_gather.cuh"
#include "kv/q8_element.cuh"
#include "util/error.h"

namespace cab::cuda::kv {
namespace {

using bf16 = __nv_bfloat16;

constexpr int kThreads = 256;
constexpr int kVec = 8;
constexpr int64_t kMaxBlocks = 65536;

template <bool kVector>
__global__ void gather_rows_kernel(DevicePool pool, const int32_t *blocks, int32_t length,
                                   int32_t value, float *out) {
    const bf16 *data = static_cast<const bf16 *>(pool.data);
    const int32_t block_size = pool.block_size, head_dim = pool.head_dim;
    constexpr int kWidth = kVector ? kVec : 1;
    const int32_t per_row = head_dim / kWidth;
    const int64_t units = static_cast<int64_t>(length) * per_row;
    for (int64_t u = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; u < units;
         u += static_cast<int64_t>(gridDim.x) * kThreads) {
        const int32_t slot = static_cast<int32_t>(u / per_row);
        const int32_t col = static_cast<int32_t>(u % per_row) * kWidth;
        const int64_t block = blocks[slot / block_size];
        float *dst = out + static_cast<int64_t>(slot) * head_dim + col;
        if (is_q8_block(pool, block)) {  // dequantized (kv/quant_q8.h)
            const int64_t r = q8_row(pool, block, value, slot % block_size);
            for (int i = 0; i < kWidth; ++i)
                dst[i] =
                    q8_element(pool.q8[r * head_dim + col + i], pool.q8_fp8) * pool.q8_scales[r];
            continue;
        }
        const int64_t pool_row = (block * 2 + value) * block_size + slot % block_size;
        const bf16 *src = data + pool_row * head_dim + col;
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

// Kinds [first_kind, first_kind + kinds) of slots [0, length), kind-major.
__global__ void gather_scores_kernel(DevicePool pool, const int32_t *blocks, int32_t length,
                                     int32_t first_kind, int32_t kinds, float *out) {
    const int64_t units = static_cast<int64_t>(length) * kinds;
    for (int64_t u = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; u < units;
         u += static_cast<int64_t>(gridDim.x) * kThreads) {
        const int32_t kind = first_kind + static_cast<int32_t>(u / length);
        const int32_t slot = static_cast<int32_t>(u % length);
        out[u] = *score_at(pool, blocks, kind, slot);
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

void gather_rows(const DevicePool &pool, const int32_t *blocks, int32_t length, bool values,
                 float *out, cudaStream_t stream) {
    const std::string name = "kv gather_rows: ";
    require(pool.block_size > 0, CAB_ERR_INVALID_ARGUMENT,
            name + "pool.block_size " + std::to_string(pool.block_size) + " <= 0");
    require(pool.head_dim > 0, CAB_ERR_INVALID_ARGUMENT,
            name + "pool.head_dim " + std::to_string(pool.head_dim) + " <= 0");
    require(pool.data, CAB_ERR_INVALID_ARGUMENT, name + "null pool.data");
    require(length >= 0, CAB_ERR_INVALID_ARGUMENT,
            name + "length " + std::to_string(length) + " < 0");
    if (length == 0) return;
    require(blocks && out, CAB_ERR_INVALID_ARGUMENT, name + "null blocks or out");
    const int64_t n = static_cast<int64_t>(length) * pool.head_dim;
    const int32_t value = values ? 1 : 0;
    if (pool.head_dim % kVec == 0 && aligned16(pool.data) && aligned16(out))
        gather_rows_kernel<true>
            <<<grid_for(n / kVec), kThreads, 0, stream>>>(pool, blocks, length, value, out);
    else
        gather_rows_kernel<false>
            <<<grid_for(n), kThreads, 0, stream>>>(pool, blocks, length, value, out);
    attention::check_launch("kv gather_rows");
}

namespace {

void gather_kinds(const char *what, const DevicePool &pool, const int32_t *blocks, int32_t length,
                  int32_t first_kind, int32_t kinds, float *out, cudaStream_t stream) {
    const std::string name = std::string(what) + ": ";
    require(pool.block_size > 0, CAB_ERR_INVALID_ARGUMENT,
            name + "pool.block_size " + std::to_string(pool.block_size) + " <= 0");
    require(pool.scores, CAB_ERR_INVALID_ARGUMENT, name + "null pool.scores (no scores kept)");
    require(length >= 0, CAB_ERR_INVALID_ARGUMENT,
            name + "length " + std::to_string(length) + " < 0");
    if (length == 0) return;
    require(blocks && out, CAB_ERR_INVALID_ARGUMENT, name + "null blocks or out");
    gather_scores_kernel<<<grid_for(static_cast<int64_t>(length) * kinds), kThreads, 0, stream>>>(
        pool, blocks, length, first_kind, kinds, out);
    attention::check_launch(what);
}

}  // namespace

void gather_scores(const DevicePool &pool, const int32_t *blocks, int32_t length, float *out,
                   cudaStream_t stream) {
    gather_kinds("kv gather_scores", pool, blocks, length, 0, kScoreKinds, out, stream);
}

void gather_score_kind(const DevicePool &pool, const int32_t *blocks, int32_t length, int32_t kind,
                       float *out, cudaStream_t stream) {
    require(kind >= 0 && kind < kScoreKinds, CAB_ERR_INVALID_ARGUMENT,
            "kv gather_score_kind: kind " + std::to_string(kind));
    gather_kinds("kv gather_score_kind", pool, blocks, length, kind, 1, out, stream);
}

}  // namespace cab::cuda::kv
