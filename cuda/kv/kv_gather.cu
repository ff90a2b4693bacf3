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

// One thread per (run, column) of a job (blockIdx.y), grid-stride over the job's floats; the
// slots' loads do not depend on the sum, so the unrolled loop keeps several in flight.
__global__ void key_means_kernel(DevicePool pool, const KeyMeansJob *jobs) {
    const KeyMeansJob job = jobs[blockIdx.y];
    const bf16 *data = static_cast<const bf16 *>(pool.data);
    const int32_t block_size = pool.block_size, head_dim = pool.head_dim;
    const int64_t units = (int64_t{job.length} + job.run - 1) / job.run * head_dim;
    for (int64_t u = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; u < units;
         u += static_cast<int64_t>(gridDim.x) * kThreads) {
        const int64_t begin = u / head_dim * job.run;
        const int32_t col = static_cast<int32_t>(u % head_dim);
        const int64_t end = min(begin + job.run, int64_t{job.length});
        float sum = 0.0f;
#pragma unroll 8
        for (int64_t slot = begin; slot < end; ++slot) {
            const int64_t block = job.blocks[slot / block_size];
            float x;
            if (is_q8_block(pool, block)) {
                const int64_t r = q8_row(pool, block, 0, static_cast<int32_t>(slot % block_size));
                x = __fmul_rn(q8_element(pool.q8[r * head_dim + col], pool.q8_fp8),
                              pool.q8_scales[r]);
            } else {
                x = __bfloat162float(
                    data[(block * 2 * block_size + slot % block_size) * head_dim + col]);
            }
            sum = __fadd_rn(sum, x);
        }
        job.out[u] = __fdiv_rn(sum, static_cast<float>(end - begin));
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

void key_means(const DevicePool &pool, const KeyMeansJob *jobs, int32_t n_jobs, int64_t max_units,
               cudaStream_t stream) {
    const std::string name = "kv key_means: ";
    require(pool.block_size > 0 && pool.head_dim > 0, CAB_ERR_INVALID_ARGUMENT,
            name + "pool.block_size " + std::to_string(pool.block_size) + " or head_dim " +
                std::to_string(pool.head_dim) + " <= 0");
    require(n_jobs >= 0 && n_jobs <= 65535, CAB_ERR_INVALID_ARGUMENT,
            name + "n_jobs " + std::to_string(n_jobs) + " outside [0, 65535]");
    if (n_jobs == 0 || max_units <= 0) return;
    require(pool.data && jobs, CAB_ERR_INVALID_ARGUMENT, name + "null pool.data or jobs");
    const dim3 grid(grid_for(max_units), static_cast<unsigned>(n_jobs));
    key_means_kernel<<<grid, kThreads, 0, stream>>>(pool, jobs);
    attention::check_launch("kv key_means");
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
