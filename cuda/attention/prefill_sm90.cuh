// Causal GQA flash-attention prefill for Hopper (sm_90a): the algorithm of prefill.cuh with the
// matrix products on warpgroup tensor cores (wgmma.cuh). A CTA of two warpgroups owns 128 packed
// rows of one kv head (64 per warpgroup, GQA heads packed into M as in prefill.cuh); both read
// the same 128-key K/V tiles, which stream through a three-stage cp.async ring, tiles visited last
// to first. S = Q K^T takes Q and K from shared memory; O += P V takes P from registers (the S
// accumulators rounded to bf16) and V as an MN-major operand, so V is never transposed. As in
// FlashAttention-3, a warpgroup's softmax of tile j runs while its tensor cores multiply
// P_{j-1} V_{j-1}: O is rescaled only after that product lands.
//
// Scores (kScores): the second pass of prefill_scores.cuh, transposed. Each warpgroup computes
// S^T = K Q^T for 64 keys of a tile against all 128 rows, so a thread's accumulators hold two
// keys against 32 rows: a key's column sum over the CTA's rows is a sum in registers and two
// shuffles, with no reduction across warps, then one atomic per key and CTA. The product of the
// next tile runs while the exponentials of this one are summed.
#pragma once

#include "attention/prefill.cuh"
#include "attention/wgmma.cuh"

namespace cab::cuda::attn {

template <int D_>
struct PrefillSm90Config {
    static constexpr int D = D_, BM = 128, BN = 128, kThreads = 256, STAGES = 3;
    static constexpr int NT = BN / 8, DT = D / 8;
    static constexpr int kQBytes = BM * D * 2, kTileBytes = BN * D * 2;
    static constexpr int kStageBytes = 2 * kTileBytes;  // K then V
    // The score pass streams K alone through the same ring: twice as many stages.
    static constexpr int kScoreStages = 2 * STAGES;
    // The score pass keeps each row's lse and causal limit in shared memory.
    static constexpr int kRowBytes = BM * 8;
    // Slack to align the tiles to 1024 bytes (the 128-byte swizzle's atom).
    static constexpr int kSmemBytes = 1024 + kQBytes + STAGES * kStageBytes + kRowBytes;
};

// Descriptor of the 64 rows [row0, row0 + 64) of a 128-byte-swizzled tile of ROWS rows as a
// K-major operand, at k-step kk (columns 16kk .. 16kk + 15).
template <int ROWS>
__device__ __forceinline__ uint64_t kmajor_desc(uint32_t tile, int row0, int kk) {
    return smem_desc(tile + (kk >> 2) * (ROWS * 128) + row0 * 128 + (kk & 3) * 32, 16, 1024);
}

// Descriptor of V rows (keys) 16kk .. 16kk + 15 of a tile of BN keys as the MN-major B operand
// of P V (N = the head's columns, 64 per block).
template <int BN>
__device__ __forceinline__ uint64_t value_desc(uint32_t tile, int kk) {
    return smem_desc(tile + kk * 16 * 128, BN * 128, 1024);
}

// The online softmax step of warp_tile.cuh without touching O, which a product may still be
// accumulating: returns each row's rescale factor alpha for O instead.
template <int NT>
__device__ __forceinline__ void softmax_step(float (&s)[1][NT][4], float (&m)[1][2],
                                             float (&l)[1][2], float (&alpha)[2],
                                             float scale_log2) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        float mx = -CUDART_INF_F;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) mx = fmaxf(mx, fmaxf(s[0][nt][2 * h], s[0][nt][2 * h + 1]));
        mx = quad_max(mx);
        const float m_new = fmaxf(m[0][h], mx * scale_log2);
        const float m_use = m_new == -CUDART_INF_F ? 0.0f : m_new;
        alpha[h] = ex2(m[0][h] - m_use);
        m[0][h] = m_new;
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

// Per-thread view of the score pass: this thread's accumulators of S^T hold keys k and k + 8 of
// its warpgroup's 64 against rows 8j + 2 (lane % 4) + c of the tile.
template <int BM>
struct ScoreColumns {
    float lse[BM / 8][2];
    uint32_t in_window = 0, is_last = 0;  // bit 2j + c
};

// Column sums of one tile's S^T accumulators into the stream's score, and for the chunk's last
// rows (kTail) window and last. Only tiles that reach past some row's causal limit (kMasked)
// pay for the mask.
template <class C, bool kMasked, bool kTail>
__device__ __forceinline__ void score_sums(const float (&s)[C::BM / 8][4],
                                           const ScoreColumns<C::BM> &cols, const int *row_limit,
                                           const PrefillParams &p, const int32_t *blocks, int key0,
                                           int key_end, int lane) {
    constexpr bool tail = kTail;
    constexpr int J = C::BM / 8;
    float col[2] = {0.0f, 0.0f}, win[2] = {0.0f, 0.0f}, last[2] = {0.0f, 0.0f};
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int key = key0 + 8 * h;
#pragma unroll
        for (int j = 0; j < J; ++j)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                float pr = ex2(fmaf(s[j][2 * h + c], p.scale_log2, -cols.lse[j][c]));
                if (kMasked && key > row_limit[8 * j + 2 * (lane & 3) + c]) pr = 0.0f;
                col[h] += pr;
                if constexpr (tail) {
                    win[h] += (cols.in_window >> (2 * j + c)) & 1u ? pr : 0.0f;
                    last[h] += (cols.is_last >> (2 * j + c)) & 1u ? pr : 0.0f;
                }
            }
    }
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        col[h] = quad_sum(col[h]);
        if constexpr (tail) {
            win[h] = quad_sum(win[h]);
            last[h] = quad_sum(last[h]);
        }
        const int key = key0 + 8 * h;
        if ((lane & 3) != 0 || key >= key_end) continue;
        float *slot = slot_scores(p.kv, blocks, key);
        atomicAdd(slot + (kScoreRow << p.kv.block_shift), col[h]);
        if constexpr (tail) {
            if (p.window > 0) atomicAdd(slot + (kWindowRow << p.kv.block_shift), win[h]);
            atomicAdd(slot + (kLastRow << p.kv.block_shift), last[h]);
        }
    }
}

template <class C, bool kScores>
__global__ void __launch_bounds__(C::kThreads, 1)
    prefill_sm90_kernel(const __grid_constant__ PrefillParams p) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    constexpr int D = C::D, BM = C::BM, BN = C::BN, NT = C::NT, DT = C::DT, STAGES = C::STAGES;
    using Tile = BlockSwizzle128<BN>;
    extern __shared__ unsigned char smem_raw[];
    const uint32_t raw = smem_u32(smem_raw), base = (raw + 1023) & ~1023u;
    const uint32_t sq = base, ring = base + C::kQBytes;
    float *row_lse = reinterpret_cast<float *>(smem_raw + (ring + STAGES * C::kStageBytes - raw));
    int *row_limit = reinterpret_cast<int *>(row_lse + BM);

    const int tid = threadIdx.x, lane = tid & 31, wg = tid >> 7, warp = (tid >> 5) & 3;
    const int head_kv = blockIdx.y;
    const int row0 = (gridDim.x - 1 - blockIdx.x) * BM;  // longest rows (most keys) first
    const DeviceStream st = p.streams[head_kv];
    const int first = st.length - p.n;
    const int row_end = min(row0 + BM, p.n_rows);
    const int q_lo = row0 / p.group, q_hi = (row_end - 1) / p.group;
    const int key_end = first + q_hi + 1;
    const int n_tiles = (key_end + BN - 1) / BN;
    const int mask_from = first + q_lo;
    const int wg_row0 = wg * 64;  // this warpgroup's rows in the tile

    // Tile i of the flash loop is key tile n_tiles - 1 - i, in stage i % STAGES.
    auto load_tile = [&](int i) {
        const uint32_t stage = ring + (i % STAGES) * C::kStageBytes;
        const int key0 = (n_tiles - 1 - i) * BN;
        load_kv_tile<D, BN, C::kThreads, Tile>(stage, p.kv, st.blocks, key0, st.length, false, tid);
        load_kv_tile<D, BN, C::kThreads, Tile>(stage + C::kTileBytes, p.kv, st.blocks, key0,
                                               st.length, true, tid);
    };
    load_q_tile<C, BlockSwizzle128<BM>>(sq, p, head_kv, row0, tid);
    load_tile(0);
    cp_async_commit();

    int limit[1][2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        const int packed = row0 + wg_row0 + warp * 16 + (lane >> 2) + 8 * h;
        limit[0][h] = packed < p.n_rows ? first + packed / p.group : -1;
    }
    float o[DT][4], m[1][2], l[1][2];
#pragma unroll
    for (int dt = 0; dt < DT; ++dt)
#pragma unroll
        for (int c = 0; c < 4; ++c) o[dt][c] = 0.0f;
    m[0][0] = m[0][1] = -CUDART_INF_F;
    l[0][0] = l[0][1] = 0.0f;

    // Iteration i: S_i = Q K_i; then P_{i-1} V_{i-1} runs while the softmax of S_i does.
    uint32_t pa[NT / 2][4];
    for (int i = 0; i < n_tiles; ++i) {
        const int t = n_tiles - 1 - i;
        const uint32_t sk = ring + (i % STAGES) * C::kStageBytes;
        cp_async_wait<0>();  // tile i landed
        fence_proxy_async();
        __syncthreads();  // visible to both warpgroups; tile i - 2's stage is free
        if (i + 1 < n_tiles) load_tile(i + 1);
        cp_async_commit();
        float s[1][NT][4];
        issue_qk<C>(s[0], sq, wg_row0, sk);
        if (i > 0) {
            issue_pv<C>(o, pa, ring + ((i - 1) % STAGES) * C::kStageBytes + C::kTileBytes);
            wgmma_wait<1>();
        } else {
            wgmma_wait<0>();
        }
        fence_operands(s[0]);
        if (t * BN + BN - 1 > mask_from) mask_keys<1, NT>(s, limit, t * BN, lane);
        float alpha[2];
        softmax_step<NT>(s, m, l, alpha, p.scale_log2);
        wgmma_wait<0>();
        fence_operands(o);
        fence_operands(pa);
        pack_p<NT>(pa, s);
#pragma unroll
        for (int dt = 0; dt < DT; ++dt) {
            o[dt][0] *= alpha[0];
            o[dt][1] *= alpha[0];
            o[dt][2] *= alpha[1];
            o[dt][3] *= alpha[1];
        }
    }
    issue_pv<C>(o, pa, ring + ((n_tiles - 1) % STAGES) * C::kStageBytes + C::kTileBytes);
    wgmma_wait<0>();
    fence_operands(o);
    fence_operands(pa);

    // Normalize and store; 4-byte stores of a quad cover 16 contiguous bytes of a row.
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        l[0][h] = quad_sum(l[0][h]);
        const int row = wg_row0 + warp * 16 + (lane >> 2) + 8 * h, packed = row0 + row;
        if constexpr (kScores) {
            if ((lane & 3) == 0) {
                row_lse[row] = limit[0][h] >= 0 && l[0][h] > 0.0f
                                   ? m[0][h] + __log2f(l[0][h])
                                   : CUDART_INF_F;  // padding rows: p = 0
                row_limit[row] = limit[0][h];
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

    if constexpr (kScores) {
        constexpr int KS = C::kScoreStages;
        cp_async_wait<0>();
        __syncthreads();  // row_lse and row_limit written; the ring is free
        ScoreColumns<BM> cols;
        const int first_window = p.n - max(p.window, 1);  // the last query counts for `last`
        const bool tail = q_hi >= first_window;
#pragma unroll
        for (int j = 0; j < BM / 8; ++j)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                const int row = 8 * j + 2 * (lane & 3) + c;
                cols.lse[j][c] = row_lse[row];
                const int query = row_limit[row] - first;
                if (row_limit[row] >= 0 && query >= p.n - p.window)
                    cols.in_window |= 1u << (2 * j + c);
                if (row_limit[row] >= 0 && query == p.n - 1) cols.is_last |= 1u << (2 * j + c);
            }
        // CTAs start at different tiles so that concurrent ones add to different keys. Tile i of
        // this pass sits in K stage i % KS; loads run two tiles ahead.
        const int t0 = blockIdx.x % n_tiles;
        auto tile_at = [&](int i) { return t0 + i < n_tiles ? t0 + i : t0 + i - n_tiles; };
        auto load_key_tile = [&](int i) {
            load_kv_tile<D, BN, C::kThreads, Tile>(ring + (i % KS) * C::kTileBytes, p.kv, st.blocks,
                                                   tile_at(i) * BN, st.length, false, tid);
        };
        auto issue_kq = [&](float(&s)[BM / 8][4], int i) {
            const uint32_t sk = ring + (i % KS) * C::kTileBytes;
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < D / 16; ++kk)
                wgmma_ss<0>(s, kmajor_desc<BN>(sk, wg * 64, kk), kmajor_desc<BM>(sq, 0, kk),
                            kk > 0);
            wgmma_commit();
        };
        grid_dependency_wait();  // prefill_scores_prepare has zeroed the assigned accumulators
#pragma unroll
        for (int i = 0; i < 3; ++i) {
            if (i < n_tiles) load_key_tile(i);
            cp_async_commit();
        }
        const int key_in_tile = wg * 64 + warp * 16 + (lane >> 2);
        // Step i: the product of tile i + 1 is issued (unless i is the last), then tile i's sums
        // are taken. The steps are unrolled by two with the tail peeled, so that every path
        // through the loop issues and retires the products in the same order.
        auto step = [&](int i, float(&cur)[BM / 8][4], float(&next)[BM / 8][4], bool issue) {
            cp_async_wait<1>();  // tiles up to i + 1 landed
            fence_proxy_async();
            __syncthreads();  // visible to both warpgroups; tile i - 1's stage is free
            if (issue) issue_kq(next, i + 1);
            if (i + 3 < n_tiles) load_key_tile(i + 3);
            cp_async_commit();
            if (issue) {
                wgmma_wait<1>();
            } else {
                wgmma_wait<0>();
            }
            fence_operands(cur);
            const int t = tile_at(i), key0 = t * BN + key_in_tile;
            const bool masked = t * BN + BN - 1 > mask_from;
            if (tail) {
                masked ? score_sums<C, true, true>(cur, cols, row_limit, p, st.blocks, key0,
                                                   key_end, lane)
                       : score_sums<C, false, true>(cur, cols, row_limit, p, st.blocks, key0,
                                                    key_end, lane);
            } else {
                masked ? score_sums<C, true, false>(cur, cols, row_limit, p, st.blocks, key0,
                                                    key_end, lane)
                       : score_sums<C, false, false>(cur, cols, row_limit, p, st.blocks, key0,
                                                     key_end, lane);
            }
        };
        float s0[BM / 8][4], s1[BM / 8][4];
        cp_async_wait<2>();  // tile 0 landed
        fence_proxy_async();
        __syncthreads();
        issue_kq(s0, 0);
        int i = 0;
        for (; i + 2 < n_tiles; i += 2) {
            step(i, s0, s1, true);
            step(i + 1, s1, s0, true);
        }
        if (i + 1 < n_tiles) {
            step(i, s0, s1, true);
            step(i + 1, s1, s0, false);
        } else {
            step(i, s0, s1, false);
        }
    }
#endif
}

}  // namespace cab::cuda::attn
