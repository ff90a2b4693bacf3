// What the parts of the decode GEMV kernel (gemv.cu) share: its parameters as the kernel reads
// them, which weight rows a group reads (heuristics.h divides the work), and bf16 and warp
// helpers. Device code for gemv.cu only.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <type_traits>

#include "gemv/gemv.cuh"
#include "gemv/heuristics.h"

namespace cab::cuda::gemv::detail {

using pos_enc::RopeFreqs;

// Epilogue::RopeAppend's arguments as the kernel reads them (kv::RopeTarget).
struct RopeParams {
    DevicePool pool;
    const DeviceStream *streams;
    const int32_t *positions;
    double freq_scale;
    int32_t rows_per_seq, n_head, n_head_kv, half;
    bool neox;
};

// The frequency table rides in the kernel parameters of the RoPE epilogue only.
struct NoFreqs {};
template <Epilogue kEpi>
using Freqs = std::conditional_t<kEpi == Epilogue::RopeAppend, RopeFreqs, NoFreqs>;

struct Params {
    const uint16_t *w;  // bf16 bits
    const float *x;
    const float *norm_w;
    float eps;
    const uint16_t *a;
    int64_t a_stride;
    const float *bias;
    void *y;
    int64_t y_stride;
    int32_t m, k, chunks, groups, slices;
    RopeParams rope;
};

// The bf16 halves of a 32-bit word as floats (exact).
__device__ __forceinline__ float lo(uint32_t u) {
    return __uint_as_float(u << 16);
}
__device__ __forceinline__ float hi(uint32_t u) {
    return __uint_as_float(u & 0xffff0000u);
}

__device__ __forceinline__ void dot8(float &acc, const uint4 &w, const uint4 &x) {
    acc = fmaf(lo(w.x), lo(x.x), acc);
    acc = fmaf(hi(w.x), hi(x.x), acc);
    acc = fmaf(lo(w.y), lo(x.y), acc);
    acc = fmaf(hi(w.y), hi(x.y), acc);
    acc = fmaf(lo(w.z), lo(x.z), acc);
    acc = fmaf(hi(w.z), hi(x.z), acc);
    acc = fmaf(lo(w.w), lo(x.w), acc);
    acc = fmaf(hi(w.w), hi(x.w), acc);
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ uint32_t bf16_bits(float f) {
    return __bfloat16_as_ushort(__float2bfloat16(f));
}

__device__ __forceinline__ float round_bf16(float f) {
    return __bfloat162float(__float2bfloat16(f));
}

// Barrier `id` (1..kWarps; 0 is __syncthreads) over the `threads` threads of one group's warps.
__device__ __forceinline__ void group_barrier(int id, int threads) {
    asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

// Group g of the RoPE epilogue: pair i of head slot `slot` (q heads, then k, then v), whose
// elements are e and e + partner of the head (pos_enc.cuh's pairings).
struct RopePair {
    int slot, i, e, partner;
};

__device__ __forceinline__ RopePair rope_pair(const RopeParams &r, int g) {
    RopePair out;
    out.slot = g / r.half;
    out.i = g % r.half;
    out.e = r.neox ? out.i : 2 * out.i;
    out.partner = r.neox ? r.half : 1;
    return out;
}

// Weight row j of group g: rows 2g and 2g + 1, for SwiGLU gate row g and up row m + g, for RoPE
// the two elements of the pair.
template <Epilogue kEpi>
__device__ __forceinline__ int64_t weight_row(const Params &p, int g, int j) {
    if constexpr (kEpi == Epilogue::Swiglu) return int64_t{g} + int64_t{j} * p.m;
    if constexpr (kEpi == Epilogue::RopeAppend) {
        const RopePair rp = rope_pair(p.rope, g);
        return int64_t{rp.slot} * 2 * p.rope.half + rp.e + j * rp.partner;
    }
    return int64_t{g} * kGroupRows + j;
}

// First element of chunk i of slice s (a slice has chunks s, s + slices, s + 2 * slices, ...).
__device__ __forceinline__ int64_t chunk_start(const Params &p, int s, int i) {
    return int64_t{s + i * p.slices} * kChunk;
}

}  // namespace cab::cuda::gemv::detail
