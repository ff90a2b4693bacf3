// Split-K paged decode attention (flash-decoding). One CTA per (split, kv head, sequence): the
// query heads of the GQA group are the rows of one m16 tile (padded with zero rows), so each
// K/V tile of the split is read once for the whole group. Tiles of 64 keys stream from the pool
// through a 3-stage cp.async ring; each of the 4 warps takes a quarter of a tile with its own
// online softmax, and the warps' states are merged in shared memory at the end. The CTA writes
// a normalized partial output and its log2-sum-exp for cascade.cuh to merge, or, with a single
// split, the final output (and, with scores, the keys' final probabilities: no merge kernel). The
// grid is sized for max_length (fixed while a CUDA graph replays); the CTAs of splits past a
// stream's end exit at once and write nothing, and the merge reads only the splits that hold keys.
//
// Scores: a key's true probability needs the log-sum-exp over all splits, known only at the
// merge. So the kernel stores each probability relative to the running max it was computed with
// (the same fp32 value that weights V) and that max once per 16-key slice; the merge rescales
// by 2^(max - lse) and sums the group's heads. Exact, and about 4 * group bytes per key on top
// of the 4 * head_dim bytes of K and V read. A single split of a short stream (kFinish) does the
// same in its own tail, with the same expressions in the same order as the merge (bit for bit
// what it would write), keeping the probabilities in shared memory and the keys' old
// accumulators, read before the grid dependency wait, in registers: at batch 1 this kernel is a
// chain of round trips to L2 on every layer of a decode step, and each one saved is latency.
#pragma once

#include "attention/heuristics.h"
#include "attention/warp_tile.cuh"

namespace cab::cuda::attn {

// 64-key tiles at both head sizes: 128-key tiles at d 64 (a 32 KB stage, as at d 128) measured
// slower on an H200 (batch 64, 32k keys: 91% of copy bandwidth against 97%), the larger ring
// halving the resident CTAs. Each warp takes a quarter of the tile's keys.
template <int D_>
struct DecodeConfig {
    static constexpr int D = D_, BN = 64, WARPS = 4, kThreads = WARPS * 32, STAGES = 3;
    static constexpr int DT = D / 8, kWarpKeys = BN / WARPS, NT = kWarpKeys / 8;
    static constexpr int kQBytes = 16 * D * 2, kTileBytes = BN * D * 2;  // one of K or V
    static constexpr int kStageBytes = 2 * kTileBytes;
    // Merge of the warps' states, reusing the ring: m and l [WARPS][16], o [WARPS][16][D].
    static constexpr int kCombineBytes = WARPS * 16 * (D + 2) * 4;
    static constexpr int kSmemBytes = kQBytes + STAGES * kStageBytes;
    static_assert(kCombineBytes <= STAGES * kStageBytes, "the combine buffer reuses the ring");
    // kFinish: probabilities [16][kProbsPitch] (padded against bank conflicts) and slice maxima
    // [kFinishKeys / 16][16] after the ring; each thread finishes kTailKeys keys.
    static constexpr int kFinishKeys = attention::kDecodeOneSplitKeys;
    static constexpr int kProbsPitch = kFinishKeys + 8;
    static constexpr int kTailKeys = kFinishKeys / kThreads;
    static constexpr int kFinishSmemBytes = kSmemBytes + 16 * kProbsPitch * 4 + kFinishKeys * 4;
    static_assert(kFinishKeys % BN == 0 && kFinishKeys % kThreads == 0, "whole tiles and tails");
};

template <class C>
__device__ __forceinline__ void load_decode_tile(uint32_t stage, const DecodeParams &p,
                                                 const int32_t *blocks, int key0, int end,
                                                 int tid) {
    load_kv_tile<C::D, C::BN, C::kThreads>(stage, p.kv, blocks, key0, end, false, tid);
    load_kv_tile<C::D, C::BN, C::kThreads>(stage + C::kTileBytes, p.kv, blocks, key0, end, true,
                                           tid);
}

// A slot's score and observer accumulators (slot_scores' address), through L2.
__device__ __forceinline__ void load_accumulators(const PagedKv &kv, const float *slot,
                                                  float &score, float &observers) {
    const int pitch = 1 << kv.block_shift;  // floats between two kinds of a slot
    score = __ldcg(slot + kScoreRow * pitch);
    observers = __ldcg(slot + kObserversRow * pitch);
}

// kFinish: one split (p.direct) of at most kFinishKeys keys with scores, finished in this kernel.
template <class C, bool kScores, bool kFinish>
__global__ void __launch_bounds__(C::kThreads)
    decode_kernel(const __grid_constant__ DecodeParams p) {
    static_assert(!kFinish || kScores, "only scores need finishing");
    constexpr int D = C::D, BN = C::BN, DT = C::DT, NT = C::NT, STAGES = C::STAGES;
    constexpr int kWarpKeys = C::kWarpKeys;
    extern __shared__ __align__(128) unsigned char smem[];
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int split = blockIdx.x, head_kv = blockIdx.y, seq = blockIdx.z;
    const int sid = seq * p.n_head_kv + head_kv;
    const DeviceStream st = p.streams[sid];
    const int length = min(st.length, p.max_length);
    const int begin = split * p.chunk;
    if (begin >= length) {              // a stream shorter than max_length: fewer splits
        if (p.direct && length == 0) {  // an empty stream: zero rows (the merge writes them else)
            grid_dependency_wait();
            for (int i = tid; i < p.group * D; i += C::kThreads)
                p.out[seq * p.out_stride + head_kv * p.group * D + i] = __float2bfloat16_rn(0.0f);
        }
        return;
    }
    const int end = min(length, begin + p.chunk);
    const int n_tiles = (end - begin + BN - 1) / BN;
    const uint32_t sq = smem_u32(smem), ring = sq + C::kQBytes;

    // Launched as a programmatic dependent, the kernel may start while the previous one still
    // writes q and the slot this step appended, the stream's last: the ring's first tiles load
    // before the wait when they end before that slot (block tables and older keys are not
    // written during a step), Q and the other tiles after it. Empty groups keep the count of
    // commit groups uniform.
    prefetch_blocks<BN>(p.kv, st.blocks, begin + (STAGES - 1) * BN, end, tid);
    int s = 0;
    for (; s < STAGES - 1; ++s) {
        const int key0 = begin + s * BN;
        if (s < n_tiles && min(end, key0 + BN) > length - 1) break;
        if (s < n_tiles)
            load_decode_tile<C>(ring + s * C::kStageBytes, p, st.blocks, key0, end, tid);
        cp_async_commit();
    }
    // kFinish: the accumulators this thread's keys add to. Older slots' are written by no kernel
    // of this step, so they load now; the appended slot's (zeroed this step) after the wait.
    [[maybe_unused]] float *tail_slot[C::kTailKeys];
    [[maybe_unused]] float tail_score[C::kTailKeys], tail_observers[C::kTailKeys];
    if constexpr (kFinish) {
#pragma unroll
        for (int i = 0; i < C::kTailKeys; ++i) {
            const int key = begin + tid + i * C::kThreads;
            tail_slot[i] = key < end ? slot_scores(p.kv, st.blocks, key) : nullptr;
            if (key < length - 1)
                load_accumulators(p.kv, tail_slot[i], tail_score[i], tail_observers[i]);
        }
    }
    grid_dependency_wait();
    allow_dependents();  // the merge's CTAs may launch and read the accumulators
    if constexpr (kFinish) {
#pragma unroll
        for (int i = 0; i < C::kTailKeys; ++i)
            if (begin + tid + i * C::kThreads == length - 1)
                load_accumulators(p.kv, tail_slot[i], tail_score[i], tail_observers[i]);
    }
    {  // Q rows of the group, zero rows up to 16; through L2, as the previous kernel wrote them.
        // Asynchronous, in its own commit group, so that it is in flight with the tiles below.
        constexpr int kChunks = D / 8;
        for (int i = tid; i < 16 * kChunks; i += C::kThreads) {
            const int row = i / kChunks, chunk = i % kChunks;
            const bool valid = row < p.group;
            cp_async_16(
                sq + swz<D>(row, chunk),
                p.q + seq * p.q_stride + (head_kv * p.group + (valid ? row : 0)) * D + chunk * 8,
                valid);
        }
        cp_async_commit();
    }
    const int after_q = STAGES - 1 - s;  // tile groups committed after Q's
    for (; s < STAGES - 1; ++s) {
        if (s < n_tiles)
            load_decode_tile<C>(ring + s * C::kStageBytes, p, st.blocks, begin + s * BN, end, tid);
        cp_async_commit();
    }
    // Q's group and every one before it (the first tiles) landed; the main loop's waits count
    // the extra group as one more before theirs, which only makes them wait for as much.
    if (after_q == 0) {
        cp_async_wait<0>();
    } else if (after_q == 1) {
        cp_async_wait<1>();
    } else {
        cp_async_wait<2>();
    }
    static_assert(STAGES - 1 <= 2, "the wait above covers at most two later groups");
    __syncthreads();
    uint32_t qf[D / 16][4];
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) ldsm_a<D>(qf[kk], sq, 0, kk, lane);

    float o[1][DT][4], m[1][2], l[1][2], ref[1][2];
#pragma unroll
    for (int dt = 0; dt < DT; ++dt)
#pragma unroll
        for (int c = 0; c < 4; ++c) o[0][dt][c] = 0.0f;
    m[0][0] = m[0][1] = -CUDART_INF_F;
    l[0][0] = l[0][1] = 0.0f;
    const int row_a = lane >> 2, row_b = row_a + 8;  // this thread's two rows (heads)
    const int limit[1][2] = {{end - 1, end - 1}};
    // Where probabilities [head][key] and slice maxima [key / 16][head] go: this CTA's shared
    // memory (kFinish) or the stream's workspace rows, for the merge.
    float *probs = nullptr, *slice_max = nullptr;
    int probs_pitch = 0;
    if constexpr (kFinish) {
        probs = reinterpret_cast<float *>(smem + C::kSmemBytes);
        slice_max = probs + 16 * C::kProbsPitch;
        probs_pitch = C::kProbsPitch;
    } else if constexpr (kScores) {
        probs = p.probs + static_cast<int64_t>(sid) * p.group * p.key_cap;
        slice_max = p.slice_m + static_cast<int64_t>(sid) * (p.key_cap / 16) * p.group;
        probs_pitch = p.key_cap;
    }

    for (int t = 0; t < n_tiles; ++t) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();  // tile t landed; every warp is done with tile t - 1's stage
        const int next = t + STAGES - 1;
        if (next < n_tiles)
            load_decode_tile<C>(ring + (next % STAGES) * C::kStageBytes, p, st.blocks,
                                begin + next * BN, end, tid);
        cp_async_commit();
        prefetch_blocks<BN>(p.kv, st.blocks, begin + (next + 1) * BN, end, tid);
        const uint32_t sk = ring + (t % STAGES) * C::kStageBytes, sv = sk + C::kTileBytes;
        const int key0 = begin + t * BN + warp * kWarpKeys;  // this warp's keys
        float s[1][NT][4];
        warp_qk_regs<D, NT>(s, qf, sk, warp * kWarpKeys, lane);
        if (key0 + kWarpKeys > end) mask_keys<1, NT>(s, limit, key0, lane);
        online_softmax<1, NT, DT>(s, m, l, o, ref, p.scale_log2);
        if constexpr (kScores) {
            if (key0 < end) {
#pragma unroll
                for (int nt = 0; nt < NT; ++nt)
#pragma unroll
                    for (int h = 0; h < 2; ++h) {
                        const int row = h ? row_b : row_a, key = key0 + frag_key(nt, 0, lane);
                        if (row >= p.group || key >= end) continue;
                        float *dst = probs + row * probs_pitch + key;
                        if (key + 1 < end) {  // two adjacent keys: one 8-byte store
                            *reinterpret_cast<float2 *>(dst) =
                                make_float2(s[0][nt][2 * h], s[0][nt][2 * h + 1]);
                        } else {
                            *dst = s[0][nt][2 * h];
                        }
                    }
                if ((lane & 3) == 0) {  // the reference max of each 16-key slice of the warp
#pragma unroll
                    for (int i = 0; i < kWarpKeys / 16; ++i) {
                        if (key0 + 16 * i >= end) break;
                        float *slice = slice_max + (key0 / 16 + i) * p.group;
                        if (row_a < p.group) slice[row_a] = ref[0][0];
                        if (row_b < p.group) slice[row_b] = ref[0][1];
                    }
                }
            }
        }
        warp_pv<D, 1, NT>(o, s, sv, warp * kWarpKeys, lane);
    }
    cp_async_wait<0>();
    __syncthreads();  // the ring is free: merge the warps' states through it

    float *cm = reinterpret_cast<float *>(smem + C::kQBytes);
    float *cl = cm + C::WARPS * 16, *co = cl + C::WARPS * 16;
    const float la = quad_sum(l[0][0]), lb = quad_sum(l[0][1]);
    if ((lane & 3) == 0) {
        cm[warp * 16 + row_a] = m[0][0];
        cm[warp * 16 + row_b] = m[0][1];
        cl[warp * 16 + row_a] = la;
        cl[warp * 16 + row_b] = lb;
    }
#pragma unroll
    for (int dt = 0; dt < DT; ++dt)
#pragma unroll
        for (int c = 0; c < 4; ++c)
            co[(warp * 16 + (c < 2 ? row_a : row_b)) * D + dt * 8 + 2 * (lane & 3) + (c & 1)] =
                o[0][dt][c];
    __syncthreads();
    const int64_t part = static_cast<int64_t>(sid) * p.n_splits + split;
    __shared__ float row_lse[16];  // a single split's final log2-sum-exp, for its scores
    for (int i = tid; i < p.group * D; i += C::kThreads) {
        const int row = i / D, col = i % D;
        float mx = -CUDART_INF_F;
#pragma unroll
        for (int w = 0; w < C::WARPS; ++w) mx = fmaxf(mx, cm[w * 16 + row]);
        float sum = 0.0f, acc = 0.0f;
#pragma unroll
        for (int w = 0; w < C::WARPS; ++w) {
            float f = ex2(cm[w * 16 + row] - mx);  // 0 for a warp that saw no key
            sum += cl[w * 16 + row] * f;
            acc += co[(w * 16 + row) * D + col] * f;
        }
        if (p.direct) {
            p.out[seq * p.out_stride + (head_kv * p.group + row) * D + col] =
                __float2bfloat16_rn(acc / sum);
            if (kFinish && col == 0) row_lse[row] = mx + __log2f(sum);
        } else {
            p.part_o[(part * p.group + row) * D + col] = acc / sum;
            if (col == 0) p.part_lse[part * p.group + row] = mx + __log2f(sum);
        }
    }
    if constexpr (kFinish) {
        __syncthreads();                          // row_lse and the probabilities, visible to all
        const int pitch = 1 << p.kv.block_shift;  // floats between two kinds of a slot
#pragma unroll
        for (int i = 0; i < C::kTailKeys; ++i) {
            const int key = begin + tid + i * C::kThreads;
            if (key >= end) break;
            float sum = 0.0f;
#pragma unroll
            for (int row = 0; row < 16; ++row)
                if (row < p.group)
                    sum += probs[row * probs_pitch + key] *
                           ex2(slice_max[(key / 16) * p.group + row] - row_lse[row]);
            tail_slot[i][kScoreRow * pitch] = tail_score[i] + sum;
            tail_slot[i][kObserversRow * pitch] = tail_observers[i] + 1.0f;
            tail_slot[i][kLastRow * pitch] = sum;
        }
    }
}

}  // namespace cab::cuda::attn
