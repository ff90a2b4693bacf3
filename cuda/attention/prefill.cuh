// Causal GQA flash-attention prefill over the paged KV pool (FlashAttention-2 structure on
// mma.sync tensor cores). One CTA owns BM packed rows of one kv head: the query heads of a GQA
// group are packed into the tile's M dimension (row = query * group + head), so each K/V tile
// is loaded once for the whole group. K/V tiles stream from the pool with cp.async, K of the
// next tile overlapping P V and V overlapping Q K^T; tiles are visited last to first so that
// the few causal-masked tiles come first. With kScores the CTA then runs the score pass of
// prefill_scores.cuh; without it that code is not compiled in.
#pragma once

#include "attention/prefill_scores.cuh"

namespace cab::cuda::attn {

template <int D_, int BM_, int BN_, int WARPS_>
struct PrefillConfig {
    static constexpr int D = D_, BM = BM_, BN = BN_, WARPS = WARPS_;
    static constexpr int kThreads = WARPS * 32;
    static constexpr int kWarpRows = BM / WARPS;
    static constexpr int MT = kWarpRows / 16, NT = BN / 8, DT = D / 8;
    static constexpr int kQBytes = BM * D * 2, kTileBytes = BN * D * 2;
    static constexpr int kRedBytes = 2 * kScoreRedFloats<WARPS, BN> * 4;  // double-buffered
    static constexpr int smem_bytes(bool scores) {
        return kQBytes + 2 * kTileBytes + (scores ? kRedBytes : 0);
    }
    static_assert(kWarpRows % 16 == 0, "a warp owns whole 16-row slices");
};

// Q rows [row0 + r0, row0 + r0 + ROWS) of kv head `head_kv` into rows [r0, r0 + ROWS) of the
// swizzled tile sq, by THREADS threads (tid in [0, THREADS)); padding rows are 0.
template <class C, class Layout = RowSwizzle<C::D>, int ROWS = C::BM, int THREADS = C::kThreads>
__device__ __forceinline__ void load_q_tile(uint32_t sq, const PrefillParams &p, int head_kv,
                                            int row0, int tid, int r0 = 0) {
    constexpr int kChunks = C::D / 8, kRowsPerPass = THREADS / kChunks;
    const int chunk = tid % kChunks;
#pragma unroll
    for (int pass = 0; pass < ROWS / kRowsPerPass; ++pass) {
        int row = r0 + tid / kChunks + pass * kRowsPerPass, packed = row0 + row;
        bool ok = packed < p.n_rows;
        const bf16 *src = p.q;
        if (ok) {
            int query = packed / p.group, head = head_kv * p.group + packed % p.group;
            src += query * p.q_stride + head * C::D + chunk * 8;
        }
        cp_async_16(sq + Layout::offset(row, chunk), src, ok);
    }
}

template <class C, bool kScores>
__global__ void __launch_bounds__(C::kThreads)
    prefill_kernel(const __grid_constant__ PrefillParams p) {
    constexpr int D = C::D, BN = C::BN, MT = C::MT, NT = C::NT, DT = C::DT;
    extern __shared__ __align__(128) unsigned char smem[];
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const PrefillCta cta = PrefillCta::of<C::BM>(p);
    const int head_kv = cta.head_kv, row0 = cta.row0;
    const DeviceStream st = p.streams[head_kv];
    const int first = st.length - p.n;  // slot of query 0
    const int row_end = min(row0 + C::BM, p.n_rows);
    const int q_lo = row0 / p.group, q_hi = (row_end - 1) / p.group;
    const int key_end = first + q_hi + 1;  // keys any row of the CTA sees
    const int n_tiles = (key_end + BN - 1) / BN;
    const int mask_from = first + q_lo;  // keys past this are hidden from some row
    const uint32_t sq = smem_u32(smem), sk = sq + C::kQBytes, sv = sk + C::kTileBytes;
    const int warp_row0 = warp * C::kWarpRows;

    load_q_tile<C>(sq, p, head_kv, row0, tid);
    load_kv_tile<D, BN, C::kThreads>(sk, p.kv, st.blocks, (n_tiles - 1) * BN, st.length, false,
                                     tid);
    cp_async_commit();

    int limit[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            int packed = row0 + warp_row0 + mt * 16 + (lane >> 2) + 8 * h;
            limit[mt][h] = packed < p.n_rows ? first + packed / p.group : -1;
        }

    float o[MT][DT][4], m[MT][2], l[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
        for (int dt = 0; dt < DT; ++dt)
#pragma unroll
            for (int c = 0; c < 4; ++c) o[mt][dt][c] = 0.0f;
        m[mt][0] = m[mt][1] = -CUDART_INF_F;
        l[mt][0] = l[mt][1] = 0.0f;
    }

    for (int t = n_tiles - 1; t >= 0; --t) {
        cp_async_wait<0>();
        __syncthreads();  // K tile t landed; every warp is done with the V buffer
        load_kv_tile<D, BN, C::kThreads>(sv, p.kv, st.blocks, t * BN, st.length, true, tid);
        cp_async_commit();
        prefetch_blocks<BN>(p.kv, st.blocks, (t - 1) * BN, t * BN, tid);
        float s[MT][NT][4];
        warp_qk<D, MT, NT>(s, sq, warp_row0, sk, 0, lane);
        if (t * BN + BN - 1 > mask_from) mask_keys<MT, NT>(s, limit, t * BN, lane);
        online_softmax<MT, NT, DT>(s, m, l, o, p.scale_log2);
        cp_async_wait<0>();
        __syncthreads();  // V tile t landed; every warp is done with the K buffer
        if (t > 0) {
            load_kv_tile<D, BN, C::kThreads>(sk, p.kv, st.blocks, (t - 1) * BN, st.length, false,
                                             tid);
            cp_async_commit();
        }
        warp_pv<D, MT, NT>(o, s, sv, 0, lane);
    }

    // Normalize and store; 4-byte stores of a quad cover 16 contiguous bytes of a row.
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            l[mt][h] = quad_sum(l[mt][h]);
            int packed = row0 + warp_row0 + mt * 16 + (lane >> 2) + 8 * h;
            if (packed >= p.n_rows) continue;
            float inv = l[mt][h] > 0.0f ? 1.0f / l[mt][h] : 0.0f;
            int query = packed / p.group, head = head_kv * p.group + packed % p.group;
            bf16 *dst = p.out + query * p.out_stride + head * D + 2 * (lane & 3);
#pragma unroll
            for (int dt = 0; dt < DT; ++dt)
                *reinterpret_cast<__nv_bfloat162 *>(dst + dt * 8) =
                    __floats2bfloat162_rn(o[mt][dt][2 * h] * inv, o[mt][dt][2 * h + 1] * inv);
        }

    if constexpr (kScores) {
        ScoreRows<MT> rows;
        const int first_window = p.n - max(p.window, 1);  // the last query counts for `last`
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const bool valid = limit[mt][h] >= 0;
                const int query = limit[mt][h] - first;
                rows.limit[mt][h] = limit[mt][h];
                rows.lse[mt][h] =
                    valid && l[mt][h] > 0.0f ? m[mt][h] + __log2f(l[mt][h]) : CUDART_INF_F;
                rows.window[mt][h] = valid && query >= p.n - p.window;
                rows.last[mt][h] = valid && query == p.n - 1;
            }
        const bool tail = q_hi >= first_window;
        float *red = reinterpret_cast<float *>(smem + C::kQBytes + 2 * C::kTileBytes);
        constexpr int kRed = kScoreRedFloats<C::WARPS, BN>;
        // CTAs start at different tiles so that concurrent ones add to different keys. Tiles
        // alternate between the K and V buffers (sv = sk + one tile); the column sums of tile
        // i are flushed after the barrier that opens tile i + 1, so no barrier is added.
        const int t0 = cta.rank % n_tiles;
        auto tile_at = [&](int i) { return t0 + i < n_tiles ? t0 + i : t0 + i - n_tiles; };
        __syncthreads();         // every warp is done with the flash loop's buffers
        grid_dependency_wait();  // prefill_scores_prepare has zeroed the assigned accumulators
        load_kv_tile<D, BN, C::kThreads>(sk, p.kv, st.blocks, t0 * BN, st.length, false, tid);
        cp_async_commit();
        for (int i = 0; i < n_tiles; ++i) {
            const int t = tile_at(i);
            cp_async_wait<0>();
            __syncthreads();  // tile i landed; tile i - 1's sums are complete
            if (i > 0)
                score_flush<BN, C::WARPS, C::kThreads>(red + ((i - 1) & 1) * kRed, p.kv, st.blocks,
                                                       tile_at(i - 1) * BN, key_end, tail,
                                                       p.window > 0, tid);
            if (i + 1 < n_tiles) {
                load_kv_tile<D, BN, C::kThreads>(sk + ((i + 1) & 1) * C::kTileBytes, p.kv,
                                                 st.blocks, tile_at(i + 1) * BN, st.length, false,
                                                 tid);
                cp_async_commit();
                if (i + 2 < n_tiles)
                    prefetch_blocks<BN>(p.kv, st.blocks, tile_at(i + 2) * BN, st.length, tid);
            }
            const uint32_t tile = sk + (i & 1) * C::kTileBytes;
            const bool masked = t * BN + BN - 1 > mask_from;
            if (tail) {
                score_tile<D, MT, NT, C::WARPS, true>(red + (i & 1) * kRed, rows, sq, warp_row0,
                                                      tile, t * BN, masked, p.scale_log2, warp,
                                                      lane);
            } else {
                score_tile<D, MT, NT, C::WARPS, false>(red + (i & 1) * kRed, rows, sq, warp_row0,
                                                       tile, t * BN, masked, p.scale_log2, warp,
                                                       lane);
            }
        }
        __syncthreads();
        score_flush<BN, C::WARPS, C::kThreads>(red + ((n_tiles - 1) & 1) * kRed, p.kv, st.blocks,
                                               tile_at(n_tiles - 1) * BN, key_end, tail,
                                               p.window > 0, tid);
    }
}

}  // namespace cab::cuda::attn
