// 8-bit tiles of decode: 128 keys whose rows all lie in 8-bit blocks (kv/quant_q8.h: int8, or fp8
// E4M3 codes), K and V each copied as [128][D] bytes with the rows' scales beside them, so that a
// stage holds twice the keys of a bf16 tile of the same bytes. Warps read their mma fragments
// straight from the bytes and widen them in registers to fp16 (exact for both types: |q| <= 127,
// and E4M3's values are fp16's), with no pass through shared memory.
// Two permutations make a lane's fragment bytes contiguous:
// - Q K^T's k order is a permutation of the head dimension, the same for Q and K (so S does not
//   change): at k-step kk = 4h + j, lane (g, t) reads word j of chunk q8_k_chunk(t, h) of key row
//   g, dims 16 c + 4 j .. + 3, as the fragment's k = {2t, 2t + 1} and {2t + 8, 2t + 9};
// - P V's output columns are permuted: column n of n-tile jn is dim n D / 8 + jn (q8_column), so
//   lane g reads dims [g D / 8, (g + 1) D / 8) of a value row. Accumulators of these tiles keep
//   that order until the CTA's warp states are merged.
// Q is fp16 here, scaled per row by a power of two (exact for bf16 values, far from fp16's
// overflow and subnormals); the scale comes off with the keys' scales on S.
#pragma once

#include "attention/page_q8.cuh"

namespace cab::cuda::attn {

template <int D>
struct Q8Tile {
    static constexpr int KEYS = 128, kBytes = KEYS * D;  // one of K or V
    static constexpr int kRowsPerLine = 128 / D, kChunks = D / 16;
    static_assert(D == 64 || D == 128, "rows fill 128-byte lines");
    // Byte offset of 16-byte chunk c of row r. Rows fill 128-byte lines whose chunks are XOR-
    // swizzled by line, so that each phase of the fragment reads below touches 8 different
    // chunks of a line's width: the banks never conflict.
    static __device__ __forceinline__ uint32_t offset(int r, int c) {
        const int line = r / kRowsPerLine;
        return static_cast<uint32_t>(
            line * 128 + ((((r % kRowsPerLine) * kChunks) + c) ^ ((line * kRowsPerLine) & 7)) * 16);
    }
};

// Chunk of a key row that lane t reads for k-steps 4h .. 4h + 3.
template <int D>
__device__ __forceinline__ int q8_k_chunk(int t, int h) {
    return D == 128 ? 2 * t + h : t;
}

// Head dim of accumulator element c of n-tile jn of P V over an int8 tile.
template <int D>
__device__ __forceinline__ int q8_column(int jn, int c, int lane) {
    return (2 * (lane & 3) + (c & 1)) * (D / 8) + jn;
}

// Starts the copy of K (value false) or V rows [key0, key0 + 128) of a stream, every one in an
// int8 block, and of their scales to the floats at `scales`.
template <int D, int THREADS>
__device__ __forceinline__ void load_q8_tile(uint32_t tile, uint32_t scales, const PagedKv &kv,
                                             const int32_t *blocks, int key0, bool value, int tid) {
    using T = Q8Tile<D>;
    constexpr int kRowsPerPass = THREADS / T::kChunks;
    static_assert(THREADS == T::KEYS && T::KEYS % kRowsPerPass == 0, "a thread per row's scale");
    const int chunk = tid % T::kChunks;
#pragma unroll
    for (int pass = 0; pass < T::KEYS / kRowsPerPass; ++pass) {
        const int row = tid / T::kChunks + pass * kRowsPerPass, key = key0 + row;
        const int64_t r = q8_pool_row(kv, block_of(kv, blocks, key), key, value);
        cp_async_16(tile + T::offset(row, chunk), kv.q8 + r * D + chunk * 16, true);
    }
    const int key = key0 + tid;
    cp_async_4(scales + 4 * tid,
               kv.q8_scales + q8_pool_row(kv, block_of(kv, blocks, key), key, value));
}

__device__ __forceinline__ uint32_t sub_f16x2(uint32_t a, uint32_t b) {
    uint32_t d;
    asm("sub.f16x2 %0, %1, %2;\n" : "=r"(d) : "r"(a), "r"(b));
    return d;
}

// Int8 bytes {x0, x1, x2, x3} as fp16 pairs lo = (x0, x1), hi = (x2, x3): x ^ 0x80 is x + 128
// unsigned, the low byte of the fp16 1024 + that; less 1152 gives x exactly.
__device__ __forceinline__ void s8x4_to_f16(uint32_t w, uint32_t &lo, uint32_t &hi) {
    const uint32_t u = w ^ 0x80808080u;
    constexpr uint32_t k1152 = 0x64806480u;
    lo = sub_f16x2(__byte_perm(u, 0x64646464u, 0x4140), k1152);
    hi = sub_f16x2(__byte_perm(u, 0x64646464u, 0x4342), k1152);
}

// The warp's Q fragments for q8_qk from rows g and g + 8 of the bf16 tile at sq (swz<D>), in the
// permuted k order, each row scaled by the power of two that puts its largest |q| in
// [2^13, 2^14); rowmul gets the inverse scales of both rows.
template <int D>
__device__ __forceinline__ void q8_query(uint32_t (&qh)[D / 16][4], float (&rowmul)[2],
                                         const unsigned char *sq, int lane) {
    const int g = lane >> 2, t = lane & 3;
    uint32_t raw[2][D / 64][8];  // [row][h]: the 16 bf16 of dims 16 c .. 16 c + 15
    float factor[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
        float mx = 0.0f;
#pragma unroll
        for (int h = 0; h < D / 64; ++h)
#pragma unroll
            for (int half = 0; half < 2; ++half) {
                const int c = 2 * q8_k_chunk<D>(t, h) + half;  // 8-dim chunk of the bf16 tile
                const uint4 v = *reinterpret_cast<const uint4 *>(sq + swz<D>(g + 8 * r, c));
                const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    raw[r][h][4 * half + i] = w[i];
                    mx = fmaxf(mx, fmaxf(fabsf(__uint_as_float(w[i] << 16)),
                                         fabsf(__uint_as_float(w[i] & 0xffff0000u))));
                }
            }
        mx = quad_max(mx);
        int e = 0;
        frexpf(mx, &e);
        e = max(e, -100);  // 2^(14 - e) stays a float
        const bool scaled = mx > 0.0f && mx <= 3.0e38f;
        factor[r] = scaled ? ldexpf(1.0f, 14 - e) : 1.0f;
        rowmul[r] = scaled ? ldexpf(1.0f, e - 14) : 1.0f;
    }
#pragma unroll
    for (int h = 0; h < D / 64; ++h)
#pragma unroll
        for (int j = 0; j < 4; ++j)
#pragma unroll
            for (int r = 0; r < 2; ++r)
#pragma unroll
                for (int pair = 0; pair < 2; ++pair) {  // dims 4j + {0, 1}, then 4j + {2, 3}
                    const uint32_t w = raw[r][h][2 * j + pair];
                    qh[4 * h + j][r + 2 * pair] =
                        pack_f16(__uint_as_float(w << 16) * factor[r],
                                 __uint_as_float(w & 0xffff0000u) * factor[r]);
                }
}

// Four 8-bit elements of a tile as fp16 pairs lo = (x0, x1), hi = (x2, x3): int8 values or fp8
// E4M3 codes' (both exact in fp16).
template <bool kFp8>
__device__ __forceinline__ void widen4_f16(uint32_t w, uint32_t &lo, uint32_t &hi) {
    if constexpr (kFp8) {
        lo = e4m3x2_to_f16x2(w & 0xffffu);
        hi = e4m3x2_to_f16x2(w >> 16);
    } else {
        s8x4_to_f16(w, lo, hi);
    }
}

// S = Q K^T (up to the scales) for the warp's 32 keys at tile rows row0.. of the int8 tile sk.
template <int D, bool kFp8>
__device__ __forceinline__ void q8_qk(float (&s)[1][4][4], const uint32_t (&qh)[D / 16][4],
                                      const unsigned char *sk, int row0, int lane) {
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c) s[0][nt][c] = 0.0f;
#pragma unroll
    for (int h = 0; h < D / 64; ++h)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
            const uint4 v = *reinterpret_cast<const uint4 *>(
                sk + Q8Tile<D>::offset(row0 + nt * 8 + g, q8_k_chunk<D>(t, h)));
            const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                uint32_t b0, b1;
                widen4_f16<kFp8>(w[j], b0, b1);
                mma_f16(s[0][nt], qh[4 * h + j], b0, b1);
            }
        }
}

// S of q8_qk times its keys' scales (`scales`: the warp's first key's) and its rows' rowmul.
__device__ __forceinline__ void q8_scale_scores(float (&s)[1][4][4], const float *scales,
                                                const float (&rowmul)[2], int lane) {
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
        const float2 f = *reinterpret_cast<const float2 *>(scales + nt * 8 + 2 * (lane & 3));
        s[0][nt][0] *= f.x * rowmul[0];
        s[0][nt][1] *= f.y * rowmul[0];
        s[0][nt][2] *= f.x * rowmul[1];
        s[0][nt][3] *= f.y * rowmul[1];
    }
}

// O += P V for the warp's 32 keys at tile rows row0.. of the int8 tile sv; p holds the softmax's
// probabilities times the V rows' scales; o's columns are q8_column's.
template <int D, bool kFp8>
__device__ __forceinline__ void q8_pv(float (&o)[D / 8][4], const float (&p)[1][4][4],
                                      const unsigned char *sv, int row0, int lane) {
    constexpr int kWords = D / 32;  // a lane's D / 8 bytes of a row
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int ks = 0; ks < 2; ++ks) {
        const uint32_t a[4] = {pack_f16(p[0][2 * ks][0], p[0][2 * ks][1]),
                               pack_f16(p[0][2 * ks][2], p[0][2 * ks][3]),
                               pack_f16(p[0][2 * ks + 1][0], p[0][2 * ks + 1][1]),
                               pack_f16(p[0][2 * ks + 1][2], p[0][2 * ks + 1][3])};
        // Keys 2t, 2t + 1 (b0) and 2t + 8, 2t + 9 (b1) of the 16-key step.
        const int r0 = row0 + 16 * ks + 2 * t;
        const int rows[4] = {r0, r0 + 1, r0 + 8, r0 + 9};
        uint32_t w[4][kWords];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            if constexpr (D == 128) {
                const uint4 v =
                    *reinterpret_cast<const uint4 *>(sv + Q8Tile<D>::offset(rows[i], g));
                w[i][0] = v.x;
                w[i][1] = v.y;
                w[i][2] = v.z;
                w[i][3] = v.w;
            } else {
                const uint2 v = *reinterpret_cast<const uint2 *>(
                    sv + Q8Tile<D>::offset(rows[i], g >> 1) + 8 * (g & 1));
                w[i][0] = v.x;
                w[i][1] = v.y;
            }
        }
#pragma unroll
        for (int k = 0; k < kWords; ++k) {
            uint32_t b0[4], b1[4];  // n-tiles 4k .. 4k + 3
            widen4_f16<kFp8>(__byte_perm(w[0][k], w[1][k], 0x5140), b0[0], b0[1]);
            widen4_f16<kFp8>(__byte_perm(w[0][k], w[1][k], 0x7362), b0[2], b0[3]);
            widen4_f16<kFp8>(__byte_perm(w[2][k], w[3][k], 0x5140), b1[0], b1[1]);
            widen4_f16<kFp8>(__byte_perm(w[2][k], w[3][k], 0x7362), b1[2], b1[3]);
#pragma unroll
            for (int e = 0; e < 4; ++e) mma_f16(o[4 * k + e], a, b0[e], b1[e]);
        }
    }
}

}  // namespace cab::cuda::attn
