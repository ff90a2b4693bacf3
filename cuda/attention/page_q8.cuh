// 8-bit KV rows (kv/quant_q8.h: int8, or fp8 E4M3 codes) in the bf16 mma.sync tiles of decode and
// settle. A tile row whose slot lies in an 8-bit block is copied as its head_dim bytes into the
// places of the row's first head_dim / 16 chunks, and its scale beside the tile; the warp that
// reads the row widens it in place to bf16 (exact: int8 as integers, |q| <= 127; E4M3's values
// fit bf16), and the scales multiply S (K's) and P (V's) key by key. So attention reads an 8-bit
// row in its own type and adds no rounding to its values.
#pragma once

#include "attention/page.cuh"

namespace cab::cuda::attn {

__device__ __forceinline__ bool q8_block(const PagedKv &kv, int64_t block) {
    return kv.q8 != nullptr && block >= kv.first_q8;
}

// Row index (into q8 and q8_scales) of K (value false) or V row `key` of a stream, whose key lies
// in int8 block `block`.
__device__ __forceinline__ int64_t q8_pool_row(const PagedKv &kv, int64_t block, int key,
                                               bool value) {
    return (((block - kv.first_q8) * 2 + (value ? 1 : 0)) << kv.block_shift) +
           (key & ((1 << kv.block_shift) - 1));
}

__device__ __forceinline__ void cp_async_4(uint32_t dst, const void *src) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(dst), "l"(src));
}

__device__ __forceinline__ void st_shared_f32(uint32_t dst, float x) {
    asm volatile("st.shared.f32 [%0], %1;\n" ::"r"(dst), "f"(x) : "memory");
}

__device__ __forceinline__ uint4 ld_shared_v4(uint32_t src) {
    uint4 v;
    asm volatile("ld.shared.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "r"(src)
                 : "memory");
    return v;
}

__device__ __forceinline__ void st_shared_v4(uint32_t dst, uint4 v) {
    asm volatile("st.shared.v4.u32 [%0], {%1, %2, %3, %4};\n" ::"r"(dst), "r"(v.x), "r"(v.y),
                 "r"(v.z), "r"(v.w)
                 : "memory");
}

// load_kv_tile for a pool with int8 blocks: bf16 rows as there, int8 rows as bytes; the scale of
// row r goes to the float at scales + 4 r (1 for a bf16 row, 0 for a row past `end`).
template <int D, int ROWS, int THREADS>
__device__ __forceinline__ void load_kv_tile_q8(uint32_t tile, uint32_t scales, const PagedKv &kv,
                                                const int32_t *blocks, int key0, int end,
                                                bool value, int tid) {
    constexpr int kChunks = D / 8, kRowsPerPass = THREADS / kChunks;
    static_assert(ROWS % kRowsPerPass == 0, "tile rows must be a multiple of a pass");
    const int chunk = tid % kChunks;
#pragma unroll
    for (int pass = 0; pass < ROWS / kRowsPerPass; ++pass) {
        const int row = tid / kChunks + pass * kRowsPerPass;
        const int key = key0 + row;
        const bool ok = key < end;
        const int64_t block = ok ? block_of(kv, blocks, key) : 0;
        if (ok && q8_block(kv, block)) {
            const int64_t r = q8_pool_row(kv, block, key, value);
            if (chunk < D / 16)
                cp_async_16(tile + swz<D>(row, chunk), kv.q8 + r * D + chunk * 16, true);
            if (chunk == 0) cp_async_4(scales + 4 * row, kv.q8_scales + r);
        } else {
            const bf16 *src = ok ? kv_chunk<D>(kv, block, key, value, chunk) : kv.pool;
            cp_async_16(tile + swz<D>(row, chunk), src, ok);
            if (chunk == 0) st_shared_f32(scales + 4 * row, ok ? 1.0f : 0.0f);
        }
    }
}

// Four int8 as bf16 integers: x ^ 0x80 is x + 128 unsigned, the low byte of the float 2^23 + that.
__device__ __forceinline__ uint2 widen4(uint32_t w) {
    const uint32_t u = w ^ 0x80808080u;
    float f[4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
        f[i] = __uint_as_float(__byte_perm(u, 0x4B000000u, 0x7440 + i)) - 8388736.0f;
    return make_uint2(pack_bf16(f[0], f[1]), pack_bf16(f[2], f[3]));
}

// Two fp8 E4M3 codes (the low 16 bits of `pair`, the first in the low byte) as fp16 (exact).
__device__ __forceinline__ uint32_t e4m3x2_to_f16x2(uint32_t pair) {
    uint32_t d;
    asm("{\n.reg .b16 t;\ncvt.u16.u32 t, %1;\ncvt.rn.f16x2.e4m3x2 %0, t;\n}\n"
        : "=r"(d)
        : "r"(pair));
    return d;
}

// Four fp8 E4M3 codes as bf16 values: exact, as E4M3's 3 mantissa bits and exponents fit bf16's.
__device__ __forceinline__ uint2 widen4_fp8(uint32_t w) {
    const uint32_t lo = e4m3x2_to_f16x2(w & 0xffffu), hi = e4m3x2_to_f16x2(w >> 16);
    const float2 a = __half22float2(*reinterpret_cast<const __half2 *>(&lo));
    const float2 b = __half22float2(*reinterpret_cast<const __half2 *>(&hi));
    return make_uint2(pack_bf16(a.x, a.y), pack_bf16(b.x, b.y));
}

// Widens the 8-bit rows among tile rows [row0, row0 + 16) (keys key0 + row, those at or past
// `end` hold zeros) to bf16 in place. One warp, the one that reads these rows: every lane reads
// its chunks before any lane writes.
template <int D>
__device__ __forceinline__ void widen_q8_rows(uint32_t tile, const PagedKv &kv,
                                              const int32_t *blocks, int key0, int row0, int end,
                                              int lane) {
    constexpr int kRaw = D / 16, kUnits = 16 * kRaw / 32;
    static_assert(16 * kRaw % 32 == 0, "a warp's rows are whole units per lane");
    uint4 raw[kUnits];
    bool q8[kUnits];
#pragma unroll
    for (int u = 0; u < kUnits; ++u) {
        const int unit = lane + 32 * u, row = row0 + unit / kRaw, key = key0 + row;
        q8[u] = key < end && q8_block(kv, block_of(kv, blocks, key));
        if (q8[u]) raw[u] = ld_shared_v4(tile + swz<D>(row, unit % kRaw));
    }
    __syncwarp();
#pragma unroll
    for (int u = 0; u < kUnits; ++u) {
        if (!q8[u]) continue;
        const int unit = lane + 32 * u, row = row0 + unit / kRaw, chunk = unit % kRaw;
        const uint32_t w[4] = {raw[u].x, raw[u].y, raw[u].z, raw[u].w};
        uint2 x[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) x[i] = kv.q8_fp8 ? widen4_fp8(w[i]) : widen4(w[i]);
        const uint2 a = x[0], b = x[1], c = x[2], d = x[3];
        st_shared_v4(tile + swz<D>(row, 2 * chunk), make_uint4(a.x, a.y, b.x, b.y));
        st_shared_v4(tile + swz<D>(row, 2 * chunk + 1), make_uint4(c.x, c.y, d.x, d.y));
    }
    __syncwarp();
}

// Multiplies the accumulator fragments of keys 0..8 NT (relative to `scales`, the scale of the
// warp's first key) by their keys' scales.
template <int NT>
__device__ __forceinline__ void scale_keys(float (&s)[1][NT][4], const float *scales, int lane) {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) {
        const float2 f = *reinterpret_cast<const float2 *>(scales + nt * 8 + 2 * (lane & 3));
        s[0][nt][0] *= f.x;
        s[0][nt][1] *= f.y;
        s[0][nt][2] *= f.x;
        s[0][nt][3] *= f.y;
    }
}

}  // namespace cab::cuda::attn
