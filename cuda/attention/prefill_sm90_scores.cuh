// The score pass of the Hopper prefill kernel (prefill_sm90.cuh): the second pass of
// prefill_scores.cuh, transposed, over the ring of K tiles (prefill_sm90_produce.cuh) once the
// flash pass has left each row's lse and causal limit in shared memory. A step takes BNS keys, 64
// for each consumer (128, as two halves, for a lone one: PrefillSm90Config::kScoreHalves), which
// computes S^T = K Q^T for its keys against all of the CTA's BM rows, so a thread's accumulators
// hold two keys a half against BM / 4 rows. With one or two consumers the product of the next
// step runs while this one's exponentials do; with three (head_dim 64) the other consumers'
// products do (two accumulator sets of 192 rows would not fit their registers).
// A key's sums over the CTA's rows then take one of two routes (PrefillSm90Config's
// kTensorScoreSums, measured in docs/PERFORMANCE.md):
// - in registers (head_dim 128): a sum over the thread's rows and two shuffles, with no
//   reduction across warps;
// - on the tensor cores (head_dim 64, where the product S^T is small beside the per-probability
//   work): P^T rounded to f16 is the A operand of P^T W, W being BM rows x 8 columns of 0/1 row
//   weights (row valid, in the score window, the chunk's last query) whose B fragments wait in
//   shared memory, so each key's three sums come out of a warp's m16n8k16 products (one per 16
//   rows) in fp32 instead of an add per probability.
// Either way one atomic per key, sum and CTA adds the result to the stream.
#pragma once

#include <type_traits>

#include "attention/page.cuh"
#include "attention/prefill_sm90_layout.cuh"

namespace cab::cuda::attn {

// One consumer's S^T accumulators of a step: each half's 64 keys against the CTA's BM rows.
template <class C>
using KeyProducts = float[C::kScoreHalves][C::BM / 8][4];

// Keys of consumer cwg's first half in a step's tile.
template <class C>
__device__ __forceinline__ int consumer_keys(int cwg) {
    return cwg * 64 * C::kScoreHalves;
}

// Issues S^T = K Q^T of step j (ring fill n_tiles + j) for consumer cwg's keys.
template <class C>
__device__ __forceinline__ void issue_key_products(KeyProducts<C> &s, const PrefillSmem<C> &sm,
                                                   const PrefillTiles &t, bool by_tma, int cwg,
                                                   int j) {
    const int g = t.n_tiles + j;
    wait_stage(sm.k_full(g), fill_parity<C>(g), by_tma);
    wgmma_fence();
#pragma unroll
    for (int h = 0; h < C::kScoreHalves; ++h)
#pragma unroll
        for (int kk = 0; kk < C::D / 16; ++kk)
            wgmma_ss<0>(s[h], kmajor_desc<C::BNS>(sm.stage(g), consumer_keys<C>(cwg) + 64 * h, kk),
                        kmajor_desc<C::BM>(sm.q, 0, kk), kk > 0);
    wgmma_commit();
}

// The steps of the pass: step j issues the product of step j + 1 (unless j is the last or the
// accumulators are single-buffered: kScoreDoubleBuffer), waits for its own, releases its stage
// and hands S^T to work(j, s). Double-buffered steps are unrolled by two with the tail peeled, so
// that every path through the loop issues and retires the products in the same order (else
// ptxas serializes every wgmma of the kernel). Step j is ring fill n_tiles + j; its tile is
// t.score_tile(j), a different one per CTA so that concurrent CTAs add to different keys.
template <class C, class Work>
__device__ __forceinline__ void score_steps(const PrefillSm90Params &pp, const PrefillSmem<C> &sm,
                                            const PrefillTiles &t, int length, int cwg,
                                            Work &&work) {
    auto by_tma = [&](int j) { return tile_by_tma<C::BNS>(pp, t.score_tile(j) * C::BNS, length); };
    auto step = [&](int j, KeyProducts<C> &cur, KeyProducts<C> &next, bool issue) {
        if (issue) {
            issue_key_products<C>(next, sm, t, by_tma(j + 1), cwg, j + 1);
            wgmma_wait<1>();
        } else {
            wgmma_wait<0>();
        }
#pragma unroll
        for (int h = 0; h < C::kScoreHalves; ++h) fence_operands(cur[h]);
        mbarrier_arrive(sm.empty(t.n_tiles + j));  // step j's product has read its stage
        work(j, cur);
    };
    if constexpr (!C::kScoreDoubleBuffer) {
        for (int j = 0; j < t.n_steps; ++j) {
            KeyProducts<C> s;
            issue_key_products<C>(s, sm, t, by_tma(j), cwg, j);
            step(j, s, s, false);
        }
    } else {
        KeyProducts<C> s0, s1;
        issue_key_products<C>(s0, sm, t, by_tma(0), cwg, 0);
        int j = 0;
        for (; j + 2 < t.n_steps; j += 2) {
            step(j, s0, s1, true);
            step(j + 1, s1, s0, true);
        }
        if (j + 1 < t.n_steps) {
            step(j, s0, s1, true);
            step(j + 1, s1, s0, false);
        } else {
            step(j, s0, s1, false);
        }
    }
}

// Whether the CTA holds rows of the score window (or the chunk's last query, which counts for
// `last` even without a window): only then are window and last added.
__device__ __forceinline__ bool score_tail(const PrefillParams &p, const PrefillTiles &t) {
    return t.q_hi >= p.n - max(p.window, 1);
}

// Per-thread view of the score pass in registers: this thread's accumulators of S^T hold keys k
// and k + 8 of its warpgroup's 64 against rows 8j + 2 (lane % 4) + c of the tile. The rows' lse
// stay in shared memory (32 more registers would spill the consumers).
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

// The score pass in registers: consumer warpgroup `cwg` (its lanes and warps as in the flash
// pass).
template <class C>
__device__ __forceinline__ void prefill_sm90_scores(const PrefillSm90Params &pp,
                                                    const DeviceStream &st, const PrefillTiles &t,
                                                    const PrefillSmem<C> &sm, int cwg, int warp,
                                                    int lane) {
    constexpr int BM = C::BM, BN = C::BNS;
    static_assert(BM <= 128, "ScoreColumns has a bit for each of the thread's 32 rows");
    static_assert(C::kScoreHalves == 1, "one half a step");
    const PrefillParams &p = pp.base;
    named_sync(kConsumersBarrier, C::kConsumerThreads);  // every row's lse and limit written
    ScoreColumns cols;
    const bool tail = score_tail(p, t);
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
    grid_dependency_wait();  // prefill_scores_prepare has zeroed the assigned accumulators
    const int key_in_tile = consumer_keys<C>(cwg) + warp * 16 + (lane >> 2);
    score_steps<C>(pp, sm, t, st.length, cwg, [&](int j, const KeyProducts<C> &products) {
        const float(&s)[BM / 8][4] = products[0];
        const int tile = t.score_tile(j), key0 = tile * BN + key_in_tile;
        const bool masked = tile * BN + BN - 1 > t.mask_from;
        if (tail) {
            masked ? score_sums<C, true, true>(s, cols, sm.row_lse, sm.row_limit, p, st.blocks,
                                               key0, t.key_end, lane)
                   : score_sums<C, false, true>(s, cols, sm.row_lse, sm.row_limit, p, st.blocks,
                                                key0, t.key_end, lane);
        } else {
            masked ? score_sums<C, true, false>(s, cols, sm.row_lse, sm.row_limit, p, st.blocks,
                                                key0, t.key_end, lane)
                   : score_sums<C, false, false>(s, cols, sm.row_lse, sm.row_limit, p, st.blocks,
                                                 key0, t.key_end, lane);
        }
    });
}

// Columns of W (the N of P^T W): even ones, so that each sum lands in a different lane of a quad
// (SumLane).
enum ScoreWeight : int { kRowValid = 0, kRowInWindow = 2, kRowIsLast = 4 };

// W (BM rows x 8 columns of 0/1 f16 row weights, from the rows' causal limits) as the B fragments
// of the m16n8k16 products, in shared memory (PrefillSmem::score_weights; in registers they
// would spill three consumers' score pass): fragment kk of lane l holds rows 16kk + 2 (l % 4) +
// {0, 1} and those 8 rows on, of column l / 4. Consumer thread i writes fragment i / 32 of lane
// i % 32: one each.
template <class C>
__device__ __forceinline__ void write_score_weights(const PrefillSmem<C> &sm,
                                                    const PrefillParams &p, const PrefillTiles &t,
                                                    int i) {
    static_assert(C::BM / 16 * 32 == C::kConsumerThreads, "one fragment per consumer thread");
    const int kk = i >> 5, lane = i & 31, column = lane >> 2;
    auto weight = [&](int row) {
        const int limit = sm.row_limit[row], query = limit - t.first;
        bool on = false;
        if (column == kRowValid) on = limit >= 0;
        if (column == kRowInWindow) on = limit >= 0 && query >= p.n - p.window;
        if (column == kRowIsLast) on = limit >= 0 && query == p.n - 1;
        return on ? 1.0f : 0.0f;
    };
    uint32_t w[2];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
        const int row = 16 * kk + 8 * half + 2 * (lane & 3);
        w[half] = pack_f16(weight(row), weight(row + 1));
    }
    sm.score_weights[i] = make_uint2(w[0], w[1]);
}

// Rows 16kk .. 16kk + 15 of P^T as the f16 A fragment of k-step kk of P^T W: the accumulator
// layout of row groups 2kk and 2kk + 1 is the A layout of one k-step (as pack_p). Keys past a
// row's causal limit get p = 0 (kMasked: only tiles that reach past some row's limit), and so do
// padding rows (lse = inf).
template <class C, bool kMasked>
__device__ __forceinline__ void score_probabilities(uint32_t (&pt)[4],
                                                    const float (&s)[C::BM / 8][4], int kk,
                                                    const float *row_lse, const int *row_limit,
                                                    float scale_log2, int key, int lane) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
        const int j = 2 * kk + half, row = 8 * j + 2 * (lane & 3);
        const float2 lse = *reinterpret_cast<const float2 *>(row_lse + row);
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            float a0 = fmaf(s[j][2 * h], scale_log2, -lse.x);
            float a1 = fmaf(s[j][2 * h + 1], scale_log2, -lse.y);
            if constexpr (kMasked) {
                const int2 limit = *reinterpret_cast<const int2 *>(row_limit + row);
                if (key + 8 * h > limit.x) a0 = -CUDART_INF_F;
                if (key + 8 * h > limit.y) a1 = -CUDART_INF_F;
            }
            pt[2 * half + h] = pack_f16(ex2(a0), ex2(a1));
        }
    }
}

// Score slots of a thread's keys `key` and `key + 8` (null past the chunk's keys). Their
// block-table loads are issued a step before the sums are added, so that no atomic waits on one.
struct ScoreSlots {
    float *slot[2];

    __device__ __forceinline__ static ScoreSlots of(const PrefillParams &p, const int32_t *blocks,
                                                    int key, int key_end) {
        ScoreSlots s;
#pragma unroll
        for (int h = 0; h < 2; ++h)
            s.slot[h] = key + 8 * h < key_end ? slot_scores(p.kv, blocks, key + 8 * h) : nullptr;
        return s;
    }
};

// Which sum of P^T W a lane adds to the stream: lane 4g + c holds column 2c of keys g and g + 8 of
// its warp's 16 (sums[0] and sums[2]), so lane c = 0 adds the score, 1 the window and 2 last,
// these two only in CTAs holding the chunk's last rows. One reduction per key and lane, chosen
// once: no branch per step.
struct SumLane {
    int offset = -1;  // of the lane's row from a slot's score; -1: the lane adds nothing

    __device__ __forceinline__ static SumLane of(const PrefillParams &p, bool tail, int lane) {
        const int c = lane & 3;
        SumLane s;
        if (c == 0) s.offset = kScoreRow << p.kv.block_shift;
        if (c == 1 && tail && p.window > 0) s.offset = kWindowRow << p.kv.block_shift;
        if (c == 2 && tail) s.offset = kLastRow << p.kv.block_shift;
        return s;
    }

    __device__ __forceinline__ void add(const float (&sums)[4], const ScoreSlots &slots) const {
        if (offset < 0) return;
#pragma unroll
        for (int h = 0; h < 2; ++h)
            if (slots.slot[h] != nullptr) atomicAdd(slots.slot[h] + offset, sums[2 * h]);
    }
};

// The score pass on the tensor cores: step j's sums are each warp's m16n8k16 products, each
// issued after its 16 rows' exponentials; their atomics follow step j + 1's products, so that no
// step waits on them, and the slots they add to are looked up after the products (held across
// them, they spilled three consumers' registers). (Warpgroup m64n8 products, which read W through
// the async proxy, ran as fast and needed a CTA barrier, a proxy fence and a wait per step.)
template <class C>
__device__ __forceinline__ void prefill_sm90_scores_tc(const PrefillSm90Params &pp,
                                                       const DeviceStream &st,
                                                       const PrefillTiles &t,
                                                       const PrefillSmem<C> &sm, int cwg, int warp,
                                                       int lane) {
    constexpr int BM = C::BM, BN = C::BNS;
    const PrefillParams &p = pp.base;
    named_sync(kConsumersBarrier, C::kConsumerThreads);  // every row's lse and limit written
    write_score_weights<C>(sm, p, t, cwg * 128 + warp * 32 + lane);
    named_sync(kConsumersBarrier, C::kConsumerThreads);
    const SumLane sum_lane = SumLane::of(p, score_tail(p, t), lane);
    constexpr int H = C::kScoreHalves;
    const int key_in_tile = consumer_keys<C>(cwg) + warp * 16 + (lane >> 2);
    grid_dependency_wait();  // prefill_scores_prepare has zeroed the assigned accumulators
    float sums[H][4] = {};
    ScoreSlots pending[H] = {};  // slots of the sums in flight (none before step 0's)
    score_steps<C>(pp, sm, t, st.length, cwg, [&](int j, const KeyProducts<C> &s) {
        const int tile = t.score_tile(j), key = tile * BN + key_in_tile;
        float acc[H][4] = {};
        // The halves' products alternate: two independent chains of m16n8k16 products. Both
        // halves read the same rows' lse and weights, which ptxas loads once (SASS).
        auto products = [&](auto masked_tag) {
#pragma unroll
            for (int kk = 0; kk < BM / 16; ++kk)
#pragma unroll
                for (int h = 0; h < H; ++h) {
                    uint32_t pt[4];
                    score_probabilities<C, decltype(masked_tag)::value>(
                        pt, s[h], kk, sm.row_lse, sm.row_limit, p.scale_log2, key + 64 * h, lane);
                    const uint2 w = sm.score_weights[kk * 32 + lane];
                    mma_f16(acc[h], pt, w.x, w.y);
                }
        };
        if (tile * BN + BN - 1 > t.mask_from) {
            products(std::true_type{});
        } else {
            products(std::false_type{});
        }
#pragma unroll
        for (int h = 0; h < H; ++h) {
            sum_lane.add(sums[h], pending[h]);
#pragma unroll
            for (int c = 0; c < 4; ++c) sums[h][c] = acc[h][c];
            pending[h] = ScoreSlots::of(p, st.blocks, key + 64 * h, t.key_end);
        }
    });
#pragma unroll
    for (int h = 0; h < H; ++h) sum_lane.add(sums[h], pending[h]);
}

}  // namespace cab::cuda::attn
