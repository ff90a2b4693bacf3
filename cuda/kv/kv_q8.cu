// KV kernels over int8 blocks: one warp per K or V row, lane l holding elements l, l + 32, ...
// (head_dim <= 256: at most 8 per lane). Grid-stride loops over (item, row) units.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "attention/launch.h"
#include "kv/kv_q8.cuh"
#include "kv/q8_element.cuh"
#include "pos_enc.cuh"
#include "util/error.h"

namespace cab::cuda::kv {
namespace {

using bf16 = __nv_bfloat16;

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxPerLane = 8;
constexpr int kMaxHeadDim = 32 * kMaxPerLane;
constexpr int64_t kMaxBlocks = 65536;
constexpr float kQ8Max = 127.0f, kFp8Max = 448.0f;  // kv/quant_q8.h

// One K or V row of the pool: bf16, or int8 and its scale.
struct Row {
    bf16 *f = nullptr;
    int8_t *q = nullptr;
    float *scale = nullptr;
};

__device__ Row row_of(const DevicePool &pool, int64_t block, int32_t value, int32_t r) {
    if (is_q8_block(pool, block)) {
        const int64_t i = q8_row(pool, block, value, r);
        return {nullptr, pool.q8 + i * pool.head_dim, pool.q8_scales + i};
    }
    // DevicePool::data is const for the attention kernels, which only read it.
    bf16 *data = static_cast<bf16 *>(const_cast<void *>(pool.data));
    return {data + ((block * 2 + value) * pool.block_size + r) * pool.head_dim};
}

__device__ Row slot_row(const DevicePool &pool, const int32_t *blocks, int32_t slot,
                        int32_t value) {
    return row_of(pool, blocks[slot / pool.block_size], value, slot % pool.block_size);
}

// The row's elements as floats; returns its scale, or -1 for a bf16 row.
__device__ float load_row(const Row &row, int d, bool fp8, int lane, float (&x)[kMaxPerLane]) {
#pragma unroll
    for (int i = 0; i < kMaxPerLane; ++i) {
        const int c = lane + 32 * i;
        x[i] = c >= d  ? 0.0f
               : row.q ? q8_element(row.q[c], fp8) * *row.scale
                       : __bfloat162float(row.f[c]);
    }
    return row.q ? *row.scale : -1.0f;
}

__device__ float warp_max(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}

// Writes x into `row`. Into an int8 row: with src_scale >= 0 (x came from an int8 row of that
// scale) the same int8 values and scale, so a move adds no rounding; else quantized as
// quantize_row_q8 does. Every lane of the warp calls it.
__device__ void store_row(const Row &row, int d, bool fp8, int lane, const float (&x)[kMaxPerLane],
                          float src_scale) {
    if (!row.q) {
#pragma unroll
        for (int i = 0; i < kMaxPerLane; ++i)
            if (lane + 32 * i < d) row.f[lane + 32 * i] = __float2bfloat16_rn(x[i]);
        return;
    }
    float scale = src_scale, inv = 0.0f;
    if (src_scale < 0.0f) {
        float amax = 0.0f;
#pragma unroll
        for (int i = 0; i < kMaxPerLane; ++i) amax = fmaxf(amax, fabsf(x[i]));
        amax = warp_max(amax);
        const float top = fp8 ? kFp8Max : kQ8Max;
        scale = amax == 0.0f ? 0.0f : __fdiv_rn(amax, top);
        inv = amax == 0.0f ? 0.0f : __fdiv_rn(top, amax);
    }
#pragma unroll
    for (int i = 0; i < kMaxPerLane; ++i) {
        const int c = lane + 32 * i;
        if (c >= d) continue;
        // A moved row: its element over its scale is the element again (an int8 integer, an E4M3
        // code's value, within a rounding of the float product that encoding undoes).
        const float r = src_scale < 0.0f    ? __fmul_rn(x[i], inv)
                        : src_scale == 0.0f ? 0.0f
                                            : __fdiv_rn(x[i], src_scale);
        row.q[c] = q8_encode(r, fp8);
    }
    if (lane == 0) *row.scale = scale;
}

__device__ int64_t warp_id() {
    return (static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x) / 32;
}

__device__ int64_t warp_count() {
    return static_cast<int64_t>(gridDim.x) * kWarps;
}

unsigned grid_for_warps(int64_t units) {
    return static_cast<unsigned>(std::clamp<int64_t>((units + kWarps - 1) / kWarps, 1, kMaxBlocks));
}

// Unit (i, row) of n blocks' 2 * block_size rows: K and V row r of block src[i] into the int8
// block dst[i] (quantized from bf16, copied from int8); a block's first unit moves its scores.
__global__ void move_blocks_kernel(DevicePool pool, const int32_t *src, const int32_t *dst,
                                   int32_t n) {
    const int lane = threadIdx.x % 32, rows = 2 * pool.block_size;
    for (int64_t u = warp_id(); u < int64_t{n} * rows; u += warp_count()) {
        const int32_t i = static_cast<int32_t>(u / rows), r = static_cast<int32_t>(u % rows);
        const int32_t value = r / pool.block_size, at = r % pool.block_size;
        float x[kMaxPerLane];
        const float s =
            load_row(row_of(pool, src[i], value, at), pool.head_dim, pool.q8_fp8, lane, x);
        store_row(row_of(pool, dst[i], value, at), pool.head_dim, pool.q8_fp8, lane, x, s);
        if (pool.scores && r == 0)
            for (int32_t e = lane; e < kScoreKinds * pool.block_size; e += 32)
                pool.scores[int64_t{dst[i]} * kScoreKinds * pool.block_size + e] =
                    pool.scores[int64_t{src[i]} * kScoreKinds * pool.block_size + e];
    }
}

// Scratch of compact_mixed, per kept slot: K then V, each its scale (-1: bf16) and head_dim
// floats, then the kScoreKinds scores.
__host__ __device__ int64_t slot_floats(int32_t head_dim) {
    return 2 * (1 + int64_t{head_dim}) + kScoreKinds;
}

__global__ void compact_gather_kernel(DevicePool pool, const int32_t *src_blocks,
                                      const int32_t *keep, int32_t n_keep, float *scratch) {
    const int lane = threadIdx.x % 32, d = pool.head_dim;
    const int64_t per = slot_floats(d);
    for (int64_t u = warp_id(); u < int64_t{n_keep} * 2; u += warp_count()) {
        const int32_t i = static_cast<int32_t>(u / 2), value = static_cast<int32_t>(u % 2);
        float x[kMaxPerLane];
        const float s =
            load_row(slot_row(pool, src_blocks, keep[i], value), d, pool.q8_fp8, lane, x);
        float *out = scratch + i * per + value * (1 + int64_t{d});
        if (lane == 0) out[0] = s;
#pragma unroll
        for (int e = 0; e < kMaxPerLane; ++e)
            if (lane + 32 * e < d) out[1 + lane + 32 * e] = x[e];
        if (pool.scores && value == 0 && lane < kScoreKinds)
            scratch[i * per + 2 * (1 + int64_t{d}) + lane] =
                *score_at(pool, src_blocks, lane, keep[i]);
    }
}

__global__ void compact_scatter_kernel(DevicePool pool, const int32_t *dst_blocks, int32_t n_keep,
                                       const float *scratch) {
    const int lane = threadIdx.x % 32, d = pool.head_dim;
    const int64_t per = slot_floats(d);
    for (int64_t u = warp_id(); u < int64_t{n_keep} * 2; u += warp_count()) {
        const int32_t i = static_cast<int32_t>(u / 2), value = static_cast<int32_t>(u % 2);
        const float *in = scratch + i * per + value * (1 + int64_t{d});
        float x[kMaxPerLane];
#pragma unroll
        for (int e = 0; e < kMaxPerLane; ++e) x[e] = lane + 32 * e < d ? in[1 + lane + 32 * e] : 0;
        store_row(slot_row(pool, dst_blocks, i, value), d, pool.q8_fp8, lane, x, in[0]);
        if (pool.scores && value == 0 && lane < kScoreKinds)
            *score_at(pool, dst_blocks, lane, i) = scratch[i * per + 2 * (1 + int64_t{d}) + lane];
    }
}

// Element c of K row src rotated as pos_enc::rope rotates it at `position`, rounded to bf16.
__device__ float rope_element(const bf16 *src, int c, int d, int32_t position,
                              const pos_enc::RopeFreqs &freqs, double freq_scale, bool neox) {
    const int half = d / 2;
    const bool first = neox ? c < half : (c & 1) == 0;
    const int pair = neox ? c % half : c / 2;
    const int partner = neox ? (first ? c + half : c - half) : c ^ 1;
    const float a = __bfloat162float(src[c]), b = __bfloat162float(src[partner]);
    float cs, sn, y0, y1;
    pos_enc::rope_angle(position, freq_scale, freqs.inv[pair], cs, sn);
    pos_enc::rope_rotate(first ? a : b, first ? b : a, cs, sn, y0, y1);
    return __bfloat162float(__float2bfloat16(first ? y0 : y1));
}

// Unit (row, head, K/V) as append_kernel orders them; only slots in int8 blocks. Non-null
// positions: K rows are rotated first (Q8Rope).
__global__ void append_q8_kernel(DevicePool pool, const DeviceStream *streams, int32_t n_head_kv,
                                 int32_t rows_per_seq, int64_t rows, const bf16 *k, const bf16 *v,
                                 int64_t stride, const int32_t *positions,
                                 const pos_enc::RopeFreqs freqs, double freq_scale, bool neox) {
    // Launched as a programmatic dependent: every CTA waits for the kernel that wrote k and v
    // (so that this one completes after it), and the next kernel may launch meanwhile.
    cudaTriggerProgrammaticLaunchCompletion();
    cudaGridDependencySynchronize();
    const int lane = threadIdx.x % 32, d = pool.head_dim;
    for (int64_t u = warp_id(); u < rows * n_head_kv * 2; u += warp_count()) {
        const int32_t h = static_cast<int32_t>(u % n_head_kv);
        const int64_t t = u / n_head_kv;
        const int64_t row = t % rows;
        const int32_t value = static_cast<int32_t>(t / rows);
        const DeviceStream s = streams[(row / rows_per_seq) * n_head_kv + h];
        const int32_t slot = s.length - rows_per_seq + static_cast<int32_t>(row % rows_per_seq);
        if (slot < 0 || !is_q8_block(pool, s.blocks[slot / pool.block_size])) continue;
        const bf16 *src = (value ? v : k) + row * stride + int64_t{h} * d;
        const bool rotate = positions && !value;
        float x[kMaxPerLane];
#pragma unroll
        for (int e = 0; e < kMaxPerLane; ++e) {
            const int c = lane + 32 * e;
            x[e] = c >= d   ? 0.0f
                   : rotate ? rope_element(src, c, d, positions[row], freqs, freq_scale, neox)
                            : __bfloat162float(src[c]);
        }
        store_row(slot_row(pool, s.blocks, slot, value), d, pool.q8_fp8, lane, x, -1.0f);
    }
}

void check_pool(const DevicePool &pool, const char *op) {
    const std::string name = std::string("kv ") + op + ": ";
    require(pool.block_size > 0 && pool.head_dim > 0 && pool.head_dim <= kMaxHeadDim,
            CAB_ERR_INVALID_ARGUMENT,
            name + "pool.block_size " + std::to_string(pool.block_size) + " and head_dim " +
                std::to_string(pool.head_dim) + " (1 to 256)");
    require(pool.data && pool.q8 && pool.q8_scales, CAB_ERR_INVALID_ARGUMENT,
            name + "the pool has no int8 blocks");
}

// quantize_blocks and copy_q8_blocks: one kernel, whose rows keep their int8 values when the
// source is int8 already.
void move_blocks(const DevicePool &pool, const int32_t *src, const int32_t *dst, int32_t n,
                 const char *op, cudaStream_t stream) {
    check_pool(pool, op);
    if (n <= 0) return;
    move_blocks_kernel<<<grid_for_warps(int64_t{n} * 2 * pool.block_size), kThreads, 0, stream>>>(
        pool, src, dst, n);
    attention::check_launch((std::string("kv ") + op).c_str());
}

}  // namespace

void quantize_blocks(const DevicePool &pool, const int32_t *src, const int32_t *dst, int32_t n,
                     cudaStream_t stream) {
    move_blocks(pool, src, dst, n, "quantize_blocks", stream);
}

void copy_q8_blocks(const DevicePool &pool, const int32_t *src, const int32_t *dst, int32_t n,
                    cudaStream_t stream) {
    move_blocks(pool, src, dst, n, "copy_q8_blocks", stream);
}

size_t compact_mixed_scratch_bytes(const DevicePool &pool, int32_t n_keep) {
    const size_t bytes = static_cast<size_t>(n_keep) * slot_floats(pool.head_dim) * sizeof(float);
    return (bytes + 15) / 16 * 16;
}

void compact_mixed(const DevicePool &pool, const int32_t *src_blocks, const int32_t *dst_blocks,
                   const int32_t *keep, int32_t n_keep, void *scratch, cudaStream_t stream) {
    check_pool(pool, "compact_mixed");
    if (n_keep <= 0) return;
    const unsigned grid = grid_for_warps(int64_t{n_keep} * 2);
    float *s = static_cast<float *>(scratch);
    compact_gather_kernel<<<grid, kThreads, 0, stream>>>(pool, src_blocks, keep, n_keep, s);
    attention::check_launch("kv compact_mixed gather");
    compact_scatter_kernel<<<grid, kThreads, 0, stream>>>(pool, dst_blocks, n_keep, s);
    attention::check_launch("kv compact_mixed scatter");
}

void append_q8(const DevicePool &pool, const DeviceStream *streams, int32_t n_head_kv,
               int32_t rows_per_seq, int64_t rows, const void *k, const void *v, int64_t kv_stride,
               const Q8Rope *rope, bool pdl, cudaStream_t stream) {
    check_pool(pool, "append");
    if (rows <= 0) return;
    pos_enc::RopeFreqs freqs{};
    if (rope) {
        require(pool.head_dim % 2 == 0 && rope->positions && rope->theta > 0.0f,
                CAB_ERR_INVALID_ARGUMENT,
                "kv append: RoPE of int8 rows needs an even head_dim, positions and theta > 0");
        freqs = pos_enc::rope_freqs(rope->theta, pool.head_dim);
    }
    attention::launch_maybe_dependent(
        pdl, append_q8_kernel, dim3(grid_for_warps(rows * n_head_kv * 2)), dim3(kThreads), 0,
        stream, "kv append (int8 rows)", pool, streams, n_head_kv, rows_per_seq, rows,
        static_cast<const bf16 *>(k), static_cast<const bf16 *>(v), kv_stride,
        rope ? rope->positions : nullptr, freqs, rope ? static_cast<double>(rope->freq_scale) : 1.0,
        rope && rope->neox);
}

}  // namespace cab::cuda::kv
