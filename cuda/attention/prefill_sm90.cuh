// Causal GQA flash-attention prefill for Hopper (sm_90a): the algorithm of prefill.cuh with the
// matrix products on warpgroup tensor cores (wgmma.cuh), organised as FlashAttention-3: a CTA of
// one producer and one to three consumer warpgroups owns BM = 64 x consumers packed rows of one
// kv head (GQA heads packed into M as in prefill.cuh; PrefillSm90Config picks the count; with
// one consumer, two CTAs share an SM).
// Warpgroup 0 is the producer (prefill_sm90_produce.cuh): it copies the 128-key K/V tiles
// (visited last to first) from the paged pool into a ring of stages (prefill_sm90_layout.cuh),
// by tensor copies (TMA) wherever it can (and then from one warp), and gives most of its
// registers to the consumers, which take 64 rows each and copy their own rows of Q. S = Q K^T
// takes Q and K from shared memory; O += P V takes P from registers (the S accumulators rounded
// to bf16) and V as an MN-major operand, so V is never transposed. A consumer issues
// P_{j-1} V_{j-1} before the softmax of tile j and waits for it after (O is rescaled only after
// that product lands), though ptxas moves that wait to the top of the softmax's basic block; it
// releases a stage once the products reading it have landed. The consumers wait on no barrier of
// the whole CTA, so one's softmax runs while another's products do. With scores, the consumers
// then run the score pass (prefill_sm90_scores.cuh) over the same ring.
#pragma once

#include "attention/prefill.cuh"
#include "attention/prefill_sm90_layout.cuh"
#include "attention/prefill_sm90_produce.cuh"
#include "attention/prefill_sm90_scores.cuh"

namespace cab::cuda::attn {

// The online softmax step of warp_tile.cuh without touching O, which a product may still be
// accumulating: returns each row's rescale factor alpha for O instead, and whether any row of
// the warp has one other than 1. A row keeps a stale max until the tile's exceeds it by more
// than kStaleMaxLog2 (as FlashAttention-4): P then stays below 2^8, where bf16 and the fp32
// sums keep the same relative precision, and O is rescaled only on the few tiles that raise a
// max that much.
constexpr float kStaleMaxLog2 = 8.0f;

template <int NT>
__device__ __forceinline__ bool softmax_step(float (&s)[1][NT][4], float (&m)[1][2],
                                             float (&l)[1][2], float (&alpha)[2],
                                             float scale_log2) {
    bool raised = false;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        float mx = -CUDART_INF_F;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) mx = fmaxf(mx, fmaxf(s[0][nt][2 * h], s[0][nt][2 * h + 1]));
        mx = quad_max(mx) * scale_log2;
        alpha[h] = 1.0f;
        if (mx > m[0][h] + kStaleMaxLog2) {  // false while both are -inf (a fully masked row)
            alpha[h] = ex2(m[0][h] - mx);
            m[0][h] = mx;
            raised = true;
        }
        const float m_use = m[0][h] == -CUDART_INF_F ? 0.0f : m[0][h];
        float sum = 0.0f;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt)
#pragma unroll
            for (int c = 2 * h; c < 2 * h + 2; ++c) {
                s[0][nt][c] = ex2(fmaf(s[0][nt][c], scale_log2, -m_use));
                sum += s[0][nt][c];
            }
        l[0][h] = l[0][h] * alpha[h] + sum;
    }
    return __any_sync(0xffffffffu, raised);
}

// P as the bf16 A fragments of P V: the accumulator layout of two 8-key groups is the A layout
// of one 16-key step.
template <int NT>
__device__ __forceinline__ void pack_p(uint32_t (&pa)[NT / 2][4], const float (&s)[1][NT][4]) {
#pragma unroll
    for (int kk = 0; kk < NT / 2; ++kk) {
        pa[kk][0] = pack_bf16(s[0][2 * kk][0], s[0][2 * kk][1]);
        pa[kk][1] = pack_bf16(s[0][2 * kk][2], s[0][2 * kk][3]);
        pa[kk][2] = pack_bf16(s[0][2 * kk + 1][0], s[0][2 * kk + 1][1]);
        pa[kk][3] = pack_bf16(s[0][2 * kk + 1][2], s[0][2 * kk + 1][3]);
    }
}

// Issues this warpgroup's S (64 rows x BN keys) = Q K^T over the head's D columns.
template <class C>
__device__ __forceinline__ void issue_qk(float (&s)[C::NT][4], uint32_t sq, int wg_row0,
                                         uint32_t sk) {
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < C::D / 16; ++kk)
        wgmma_ss<0>(s, kmajor_desc<C::BM>(sq, wg_row0, kk), kmajor_desc<C::BN>(sk, 0, kk), kk > 0);
    wgmma_commit();
}

template <class C>
__device__ __forceinline__ void issue_pv(float (&o)[C::DT][4], const uint32_t (&pa)[C::NT / 2][4],
                                         uint32_t sv) {
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < C::BN / 16; ++kk) wgmma_rs<1>(o, pa[kk], value_desc<C::BN>(sv, kk));
    wgmma_commit();
}

template <class C, bool kScores>
__global__ void __launch_bounds__(C::kThreads, C::kCtasPerSm)
    prefill_sm90_kernel(const __grid_constant__ PrefillSm90Params params) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    const PrefillParams &p = params.base;
    constexpr int D = C::D, BM = C::BM, BN = C::BN, NT = C::NT, DT = C::DT;
    constexpr int kConsumers = C::kConsumerThreads;
    extern __shared__ unsigned char smem_raw[];
    const PrefillSmem<C> sm = PrefillSmem<C>::at(smem_raw);
    const int tid = threadIdx.x, lane = tid & 31, warp = (tid >> 5) & 3;
    const PrefillCta cta = PrefillCta::of<BM>(p);
    const int head_kv = cta.head_kv;
    const DeviceStream st = p.streams[head_kv];
    const PrefillTiles t = PrefillTiles::of<BM, BN, C::BNS>(p, st, cta);

    const bool one_warp = params.tma_rows > 0;  // see PrefillSm90Config::kTmaProducerThreads
    const int producers = one_warp ? C::kTmaProducerThreads : C::kProducerThreads;
    if (tid == 0) {
        for (int s = 0; s < C::STAGES; ++s) {
            mbarrier_init(sm.k_full(s), producers);
            mbarrier_init(sm.v_full(s), producers);
            mbarrier_init(sm.empty(s), kConsumers);
        }
    }
    __syncthreads();  // the last CTA-wide barrier: the producers may exit before the consumers
    if (tid < C::kProducerThreads) {
        registers_decrease<C::kProducerRegisters>();
        if (one_warp && tid < C::kTmaProducerThreads) {
            prefill_produce<C, kScores, C::kTmaProducerThreads>(params, st, t, sm, tid);
        } else if (!one_warp) {
            prefill_produce<C, kScores, C::kProducerThreads>(params, st, t, sm, tid);
        }
        return;
    }
    registers_increase<C::kConsumerRegisters>();
    const int cwg = (tid - C::kProducerThreads) >> 7;  // consumer 0 .. kConsumerWarpgroups - 1
    const int wg_row0 = cwg * 64;                      // its rows in the tile

    int limit[1][2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int packed = t.row0 + wg_row0 + warp * 16 + (lane >> 2) + 8 * h;
        limit[0][h] = packed < p.n_rows ? t.first + packed / p.group : -1;
    }
    float o[DT][4], m[1][2], l[1][2];
#pragma unroll
    for (int dt = 0; dt < DT; ++dt)
#pragma unroll
        for (int c = 0; c < 4; ++c) o[dt][c] = 0.0f;
    m[0][0] = m[0][1] = -CUDART_INF_F;
    l[0][0] = l[0][1] = 0.0f;

    // Each consumer copies its own rows of Q (packed rows of several heads: no box of a tensor
    // map) while the producer fills the ring.
    load_q_tile<C, BlockSwizzle128<BM>, 64, 128>(sm.q, p, head_kv, t.row0, tid & 127, wg_row0);
    cp_async_commit();
    cp_async_wait<0>();
    fence_proxy_async();
    named_sync(kQBarrier + cwg, 128);

    // Iteration i: S_i = Q K_i and P_{i-1} V_{i-1} issued, the softmax of S_i, then P_i packed.
    uint32_t pa[NT / 2][4];
    for (int i = 0; i < t.n_tiles; ++i) {
        const int tile = t.n_tiles - 1 - i;
        wait_stage(sm.k_full(i), fill_parity<C>(i), tile_by_tma<BN>(params, tile * BN, st.length));
        if (i > 0)
            wait_stage(sm.v_full(i - 1), fill_parity<C>(i - 1),
                       tile_by_tma<BN>(params, (tile + 1) * BN, st.length));
        float s[1][NT][4];
        issue_qk<C>(s[0], sm.q, wg_row0, sm.stage(i));
        // One branch from the products' issue to their wait: split over two, ptxas serializes
        // every wgmma of the kernel (C7514).
        if (i > 0) {
            issue_pv<C>(o, pa, sm.stage(i - 1) + C::kTileBytes);
            wgmma_wait<1>();
        } else {
            wgmma_wait<0>();
        }
        fence_operands(s[0]);
        if (tile * BN + BN - 1 > t.mask_from) mask_keys<1, NT>(s, limit, tile * BN, lane);
        float alpha[2];
        const bool rescale = softmax_step<NT>(s, m, l, alpha, p.scale_log2);
        wgmma_wait<0>();
        fence_operands(o);
        fence_operands(pa);
        if (i > 0) mbarrier_arrive(sm.empty(i - 1));  // P_{i-1} V_{i-1} and S_{i-1} landed
        pack_p<NT>(pa, s);
        if (rescale) {
#pragma unroll
            for (int dt = 0; dt < DT; ++dt) {
                o[dt][0] *= alpha[0];
                o[dt][1] *= alpha[0];
                o[dt][2] *= alpha[1];
                o[dt][3] *= alpha[1];
            }
        }
    }
    const int last = t.n_tiles - 1;
    wait_stage(sm.v_full(last), fill_parity<C>(last), tile_by_tma<BN>(params, 0, st.length));
    issue_pv<C>(o, pa, sm.stage(last) + C::kTileBytes);
    wgmma_wait<0>();
    fence_operands(o);
    fence_operands(pa);
    mbarrier_arrive(sm.empty(last));

    // Normalize and store; 4-byte stores of a quad cover 16 contiguous bytes of a row.
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        l[0][h] = quad_sum(l[0][h]);
        const int row = wg_row0 + warp * 16 + (lane >> 2) + 8 * h, packed = t.row0 + row;
        if constexpr (kScores) {
            if ((lane & 3) == 0) {
                sm.row_lse[row] = limit[0][h] >= 0 && l[0][h] > 0.0f
                                      ? m[0][h] + __log2f(l[0][h])
                                      : CUDART_INF_F;  // padding rows: p = 0
                sm.row_limit[row] = limit[0][h];
            }
        }
        if (packed >= p.n_rows) continue;
        const float inv = l[0][h] > 0.0f ? 1.0f / l[0][h] : 0.0f;
        const int query = packed / p.group, head = head_kv * p.group + packed % p.group;
        bf16 *dst = p.out + query * p.out_stride + head * D + 2 * (lane & 3);
#pragma unroll
        for (int dt = 0; dt < DT; ++dt)
            *reinterpret_cast<__nv_bfloat162 *>(dst + dt * 8) =
                __floats2bfloat162_rn(o[dt][2 * h] * inv, o[dt][2 * h + 1] * inv);
    }

    if constexpr (kScores && C::kTensorScoreSums) {
        prefill_sm90_scores_tc<C>(params, st, t, sm, cwg, warp, lane);
    } else if constexpr (kScores) {
        prefill_sm90_scores<C>(params, st, t, sm, cwg, warp, lane);
    }
#endif
}

}  // namespace cab::cuda::attn
