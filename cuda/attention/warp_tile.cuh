// Warp-level pieces of flash attention shared by prefill and decode. A warp owns MT 16-row
// slices of packed query rows and an NT * 8-key slice of a K/V tile; S, P and O stay in mma
// accumulator fragments (see mma.cuh for their layout). The online softmax works in the base-2
// domain: x = s * scale_log2, p = 2^(x - m).
#pragma once

#include <math_constants.h>

#include "attention/page.cuh"

namespace cab::cuda::attn {

// S = Q K^T for the warp's rows (Q fragments loaded from the tile sq at rows q_row0 + 16 mt) and
// keys key0..key0 + 8 NT of the tile sk.
template <int D, int MT, int NT>
__device__ __forceinline__ void warp_qk(float (&s)[MT][NT][4], uint32_t sq, int q_row0, uint32_t sk,
                                        int key0, int lane) {
    static_assert(NT % 2 == 0, "keys come in pairs of 8-key tiles");
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
            for (int c = 0; c < 4; ++c) s[mt][nt][c] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
        uint32_t a[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) ldsm_a<D>(a[mt], sq, q_row0 + mt * 16, kk, lane);
#pragma unroll
        for (int np = 0; np < NT / 2; ++np) {
            uint32_t b[4];
            ldsm_k<D>(b, sk, key0 + np * 16, kk, lane);
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                mma_bf16(s[mt][2 * np], a[mt], b[0], b[1]);
                mma_bf16(s[mt][2 * np + 1], a[mt], b[2], b[3]);
            }
        }
    }
}

// S = Q K^T for one 16-row slice whose Q fragments are held in registers (decode) and keys
// key0..key0 + 8 NT of the tile sk (laid out by Layout).
template <int D, int NT, class Layout = RowSwizzle<D>>
__device__ __forceinline__ void warp_qk_regs(float (&s)[1][NT][4], const uint32_t (&qf)[D / 16][4],
                                             uint32_t sk, int key0, int lane) {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c) s[0][nt][c] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
        for (int np = 0; np < NT / 2; ++np) {
            uint32_t b[4];
            ldsm_k<D, Layout>(b, sk, key0 + np * 16, kk, lane);
            mma_bf16(s[0][2 * np], qf[kk], b[0], b[1]);
            mma_bf16(s[0][2 * np + 1], qf[kk], b[2], b[3]);
        }
}

// Key index of accumulator element c of 8-key tile nt, relative to the slice's first key.
__device__ __forceinline__ int frag_key(int nt, int c, int lane) {
    return nt * 8 + 2 * (lane & 3) + (c & 1);
}

// Hides key k from row (mt, h) when k > limit[mt][h] (keys are key0 + frag_key).
template <int MT, int NT>
__device__ __forceinline__ void mask_keys(float (&s)[MT][NT][4], const int (&limit)[MT][2],
                                          int key0, int lane) {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
            for (int c = 0; c < 4; ++c)
                if (key0 + frag_key(nt, c, lane) > limit[mt][c >> 1]) s[mt][nt][c] = -CUDART_INF_F;
}

// Online softmax step: turns s into p = 2^(x - m) with the updated running max m (rows of a
// quad share it), rescales l and o by 2^(m_old - m). A row that has seen only masked keys keeps
// m = -inf and uses 0 in its exponents, so it yields zeros, never NaN.
template <int MT, int NT, int DT>
__device__ __forceinline__ void online_softmax(float (&s)[MT][NT][4], float (&m)[MT][2],
                                               float (&l)[MT][2], float (&o)[MT][DT][4],
                                               float scale_log2) {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            float mx = -CUDART_INF_F;
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
                mx = fmaxf(mx, fmaxf(s[mt][nt][2 * h], s[mt][nt][2 * h + 1]));
            mx = quad_max(mx);
            float m_new = fmaxf(m[mt][h], mx * scale_log2);
            float m_use = m_new == -CUDART_INF_F ? 0.0f : m_new;
            float alpha = ex2(m[mt][h] - m_use);
            m[mt][h] = m_new;
            float sum = 0.0f;
#pragma unroll
            for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                for (int c = 2 * h; c < 2 * h + 2; ++c) {
                    s[mt][nt][c] = ex2(fmaf(s[mt][nt][c], scale_log2, -m_use));
                    sum += s[mt][nt][c];
                }
            l[mt][h] = l[mt][h] * alpha + sum;
#pragma unroll
            for (int dt = 0; dt < DT; ++dt) {
                o[mt][dt][2 * h] *= alpha;
                o[mt][dt][2 * h + 1] *= alpha;
            }
        }
}

// O += P V for the warp's rows: P from its S fragments (rounded to bf16, the accumulator layout
// of two 8-key tiles is the A layout of one 16-key step), V rows key0.. of the tile sv (laid out
// by Layout).
template <int D, int MT, int NT, class Layout = RowSwizzle<D>>
__device__ __forceinline__ void warp_pv(float (&o)[MT][D / 8][4], const float (&p)[MT][NT][4],
                                        uint32_t sv, int key0, int lane) {
#pragma unroll
    for (int kk = 0; kk < NT / 2; ++kk) {
        uint32_t a[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
            a[mt][0] = pack_bf16(p[mt][2 * kk][0], p[mt][2 * kk][1]);
            a[mt][1] = pack_bf16(p[mt][2 * kk][2], p[mt][2 * kk][3]);
            a[mt][2] = pack_bf16(p[mt][2 * kk + 1][0], p[mt][2 * kk + 1][1]);
            a[mt][3] = pack_bf16(p[mt][2 * kk + 1][2], p[mt][2 * kk + 1][3]);
        }
#pragma unroll
        for (int dp = 0; dp < D / 16; ++dp) {
            uint32_t b[4];
            ldsm_v<D, Layout>(b, sv, key0 + kk * 16, dp, lane);
#pragma unroll
            for (int mt = 0; mt < MT; ++mt) {
                mma_bf16(o[mt][2 * dp], a[mt], b[0], b[1]);
                mma_bf16(o[mt][2 * dp + 1], a[mt], b[2], b[3]);
            }
        }
    }
}

}  // namespace cab::cuda::attn
