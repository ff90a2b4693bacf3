// The score pass of the Hopper prefill kernel (prefill_sm90.cuh): the second pass of
// prefill_scores.cuh, transposed, over the ring of K tiles (prefill_sm90_produce.cuh) once the
// flash pass has left each row's lse and causal limit in shared memory. Each consumer computes
// S^T = K Q^T for 64 keys of a tile against all 128 rows, so a thread's accumulators hold two
// keys against 32 rows: a key's column sum over the CTA's rows is a sum in registers and two
// shuffles, with no reduction across warps, then one atomic per key and CTA. The product of the
// next tile runs while the exponentials of this one are summed.
//
// Summing on the tensor cores instead (P^T times a matrix of 0/1 row weights), and moving a
// share of the exponentials to the FMA pipe, were measured slower on the H100
// (docs/PERFORMANCE.md, "What was tried").
#pragma once

#include "attention/page.cuh"
#include "attention/prefill_sm90_layout.cuh"

namespace cab::cuda::attn {

// Per-thread view of the score pass: this thread's accumulators of S^T hold keys k and k + 8 of
// its warpgroup's 64 against rows 8j + 2 (lane % 4) + c of the tile. The rows' lse stay in
// shared memory (32 more registers would spill the consumers).
struct ScoreColumns {
    uint32_t in_window = 0, is_last = 0;  // bit 2j + c
};

// Column sums of one tile's S^T accumulators into the stream's score, and for the chunk's last
// rows (kTail) window and last. Only tiles that reach past some row's causal limit (kMasked)
// pay for the mask.
template <class C, bool kMasked, bool kTail>
__device__ __forceinline__ void score_sums(const float (&s)[C::BM / 8][4], const ScoreColumns &cols,
                                           const float *row_lse, const int *row_limit,
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
                const int row = 8 * j + 2 * (lane & 3) + c;
                float pr = ex2(fmaf(s[j][2 * h + c], p.scale_log2, -row_lse[row]));
                if (kMasked && key > row_limit[row]) pr = 0.0f;
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

// The score pass of consumer warpgroup `cwg` (its lanes and warps as in the flash pass). Step j
// of the pass is ring fill n_tiles + j; the tiles start at a different key per CTA
// (PrefillTiles::score_tile) so that concurrent CTAs add to different keys.
template <class C>
__device__ __forceinline__ void prefill_sm90_scores(const PrefillParams &p, const DeviceStream &st,
                                                    const PrefillTiles &t, const PrefillSmem<C> &sm,
                                                    int cwg, int warp, int lane) {
    constexpr int D = C::D, BM = C::BM, BN = C::BN;
    named_sync(kConsumersBarrier, C::kConsumerThreads);  // every row's lse and limit written
    ScoreColumns cols;
    const int first_window = p.n - max(p.window, 1);  // the last query counts for `last`
    const bool tail = t.q_hi >= first_window;
#pragma unroll
    for (int j = 0; j < BM / 8; ++j)
#pragma unroll
        for (int c = 0; c < 2; ++c) {
            const int row = 8 * j + 2 * (lane & 3) + c;
            const int query = sm.row_limit[row] - t.first;
            if (sm.row_limit[row] >= 0 && query >= p.n - p.window)
                cols.in_window |= 1u << (2 * j + c);
            if (sm.row_limit[row] >= 0 && query == p.n - 1) cols.is_last |= 1u << (2 * j + c);
        }
    // Step j of this pass is ring fill n_tiles + j.
    auto issue_kq = [&](float(&s)[BM / 8][4], int j) {
        const int g = t.n_tiles + j;
        wait_stage(sm.k_full(g), fill_parity<C>(g));
        wgmma_fence();
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk)
            wgmma_ss<0>(s, kmajor_desc<BN>(sm.stage(g), cwg * 64, kk), kmajor_desc<BM>(sm.q, 0, kk),
                        kk > 0);
        wgmma_commit();
    };
    grid_dependency_wait();  // prefill_scores_prepare has zeroed the assigned accumulators
    const int key_in_tile = cwg * 64 + warp * 16 + (lane >> 2);
    // Step j: the product of step j + 1 is issued (unless j is the last), then step j's
    // sums are taken. The steps are unrolled by two with the tail peeled, so that every path
    // through the loop issues and retires the products in the same order.
    auto step = [&](int j, float(&cur)[BM / 8][4], float(&next)[BM / 8][4], bool issue) {
        if (issue) {
            issue_kq(next, j + 1);
            wgmma_wait<1>();
        } else {
            wgmma_wait<0>();
        }
        fence_operands(cur);
        mbarrier_arrive(sm.empty(t.n_tiles + j));  // step j's product has read its stage
        const int tile = t.score_tile(j), key0 = tile * BN + key_in_tile;
        const bool masked = tile * BN + BN - 1 > t.mask_from;
        if (tail) {
            masked ? score_sums<C, true, true>(cur, cols, sm.row_lse, sm.row_limit, p, st.blocks,
                                               key0, t.key_end, lane)
                   : score_sums<C, false, true>(cur, cols, sm.row_lse, sm.row_limit, p, st.blocks,
                                                key0, t.key_end, lane);
        } else {
            masked ? score_sums<C, true, false>(cur, cols, sm.row_lse, sm.row_limit, p, st.blocks,
                                                key0, t.key_end, lane)
                   : score_sums<C, false, false>(cur, cols, sm.row_lse, sm.row_limit, p, st.blocks,
                                                 key0, t.key_end, lane);
        }
    };
    float s0[BM / 8][4], s1[BM / 8][4];
    issue_kq(s0, 0);
    int j = 0;
    for (; j + 2 < t.n_tiles; j += 2) {
        step(j, s0, s1, true);
        step(j + 1, s1, s0, true);
    }
    if (j + 1 < t.n_tiles) {
        step(j, s0, s1, true);
        step(j + 1, s1, s0, false);
    } else {
        step(j, s0, s1, false);
    }
}

}  // namespace cab::cuda::attn
