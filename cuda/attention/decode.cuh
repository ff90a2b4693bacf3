// Split-K paged decode attention (flash-decoding). One CTA per (split, kv head, sequence): the
// query heads of the GQA group are the rows of one m16 tile (padded with zero rows), so each
// K/V tile of the split is read once for the whole group. Tiles of 64 keys stream from the pool
// through a 3-stage cp.async ring; each of the 4 warps takes a quarter of a tile with its own
// online softmax, and the warps' states are merged in shared memory at the end. The CTA writes
// a normalized partial output and its log2-sum-exp for cascade.cuh to merge, or, with a single
// split, the final output (and, with scores, the completed pending record: no merge kernel). The
// grid is sized for max_length (fixed while a CUDA graph replays); splits.cuh says which keys
// each split of a stream takes, and the CTAs of splits past them exit at once and write nothing,
// the merge reading only the splits that hold keys.
//
// A pool with 8-bit blocks (DecodeConfig Q8: int8, or fp8 E4M3 with Fp8) reads a stream's 8-bit
// prefix in tiles of 128 keys in the same stage bytes (tile_q8.cuh: fragments widened in
// registers, fp16 mma), each warp taking 32 keys with a state of its own, then the rest in 64-key
// tiles as above, whose 8-bit rows (at the boundary) are widened in place (page_q8.cuh).
//
// Scores (pending.h): a key's probability under this step's query needs the log-sum-exp over
// every split, known only after the merge. So with kDefer the step leaves its query and final
// log-sum-exp in the stream's pending record, and the next step's kernel, which reads every key
// anyway, puts that query in the spare rows 8..15 of its m16 tile (a group has at most 8 heads):
// its exact probabilities 2^(s - lse) come out of the same products, are summed over the group
// in registers and added to the keys' accumulators by reductions in L2. kInstall only leaves
// the record (in the workspace), for settle() to apply in the same call: groups of 9 to 16 heads
// and callers that keep no records.
#pragma once

#include "attention/heuristics.h"
#include "attention/pending.cuh"
#include "attention/splits.cuh"
#include "attention/tile_q8.cuh"
#include "attention/warp_tile.cuh"

namespace cab::cuda::attn {

enum class DecodeScores { kNone, kInstall, kDefer };

// 64-key tiles at both head sizes: 128-key tiles at d 64 (a 32 KB stage, as at d 128) measured
// slower on an H200 (batch 64, 32k keys: 91% of copy bandwidth against 97%), the larger ring
// halving the resident CTAs. Each warp takes a quarter of the tile's keys. Q8: the pool has int8
// blocks; a stage holds a bf16 tile or an int8 one (Q8Tile: twice the keys in the same bytes),
// and the rows' scales, K's then V's.
template <int D_, bool Q8_ = false, bool Fp8_ = false>
struct DecodeConfig {
    static constexpr int D = D_, BN = 64, WARPS = 4, kThreads = WARPS * 32, STAGES = 3;
    static constexpr int kConsumerThreads = kThreads;  // all of them compute (decode_sm90.cuh)
    static constexpr bool Q8 = Q8_, Fp8 = Fp8_;        // 8-bit blocks, of fp8 E4M3 codes
    static constexpr int DT = D / 8, kWarpKeys = BN / WARPS, NT = kWarpKeys / 8;
    static constexpr int kQBytes = 16 * D * 2, kTileBytes = BN * D * 2;  // one of K or V
    static constexpr int kQ8Keys = Q8Tile<D>::KEYS, kQ8WarpKeys = kQ8Keys / WARPS;
    static constexpr int kScaleBytes = Q8 ? 2 * kQ8Keys * 4 : 0;
    static constexpr int kStageBytes = 2 * kTileBytes + kScaleBytes;
    // Merge of the warps' states (two per warp with Q8: int8 tiles' and the others'), reusing
    // the ring: m and l [states][16], o [states][16][kRowFloats]. Rows padded by 4 floats: a
    // warp's 8-byte stores of its fragments then meet at most 2 to a bank (unpadded, the 8 rows
    // of a fragment column fell in one bank).
    static constexpr int kStates = Q8 ? 2 * WARPS : WARPS, kRowFloats = D + 4;
    static constexpr int kCombineBytes = kStates * 16 * (kRowFloats + 2) * 4;
    static constexpr int kSmemBytes = kQBytes + STAGES * kStageBytes;
    static_assert(Q8Tile<D>::kBytes == kTileBytes && kQ8WarpKeys == 32, "int8 tiles fill stages");
    static_assert(kCombineBytes <= STAGES * kStageBytes, "the combine buffer reuses the ring");
};

// The tiles of a CTA's keys [begin, end): n_q8 int8 tiles (Q8Tile) first, then 64-key tiles.
template <class C>
struct DecodeTiles {
    int begin, n_q8, count;
    __device__ __forceinline__ int key0(int t) const {
        return t < n_q8 ? begin + t * C::kQ8Keys : begin + n_q8 * C::kQ8Keys + (t - n_q8) * C::BN;
    }
    __device__ __forceinline__ int keys(int t) const { return t < n_q8 ? C::kQ8Keys : C::BN; }
};

// How many whole int8 tiles start the keys [begin, end): a stream's int8 blocks precede its
// full-precision ones, so a tile is one when its last key is. Every thread gets the count.
template <class C>
__device__ __forceinline__ int count_q8_tiles(const PagedKv &kv, const int32_t *blocks, int begin,
                                              int end, int tid) {
    const int whole = (end - begin) / C::kQ8Keys;
    int n = 0;
    for (int t0 = 0; t0 < whole; t0 += C::kThreads) {
        const int t = t0 + tid, last = begin + (t + 1) * C::kQ8Keys - 1;
        n += __syncthreads_count(t < whole && q8_block(kv, block_of(kv, blocks, last)));
    }
    return n;
}

template <class C>
__device__ __forceinline__ void load_decode_tile(uint32_t stage, const DecodeParams &p,
                                                 const int32_t *blocks, const DecodeTiles<C> &tiles,
                                                 int t, int end, int tid) {
    const int key0 = tiles.key0(t);
    if constexpr (C::Q8) {
        const uint32_t scales = stage + 2 * C::kTileBytes, v_scales = scales + 4 * C::kQ8Keys;
        if (t < tiles.n_q8) {
            load_q8_tile<C::D, C::kThreads>(stage, scales, p.kv, blocks, key0, false, tid);
            load_q8_tile<C::D, C::kThreads>(stage + C::kTileBytes, v_scales, p.kv, blocks, key0,
                                            true, tid);
            return;
        }
        if (q8_block(p.kv, block_of(p.kv, blocks, key0))) {  // int8 rows, then bf16 ones
            load_kv_tile_q8<C::D, C::BN, C::kThreads>(stage, scales, p.kv, blocks, key0, end, false,
                                                      tid);
            load_kv_tile_q8<C::D, C::BN, C::kThreads>(stage + C::kTileBytes, v_scales, p.kv, blocks,
                                                      key0, end, true, tid);
            return;
        }
    }
    load_kv_tiles<C::D, C::BN, C::kThreads>(stage, stage + C::kTileBytes, p.kv, blocks, key0, end,
                                            tid);
}

// The pending query's probabilities of this thread's keys key0 + frag_key (rows 8..15 of s,
// taken before the softmax overwrites s).
template <int NT>
__device__ __forceinline__ void pending_probs(float (&v)[NT][2], const float (&s)[1][NT][4],
                                              const DecodeParams &p, int key0, int pend,
                                              float lse_b, int lane) {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int c = 0; c < 2; ++c)
            v[nt][c] = (lane >> 2) < p.group && key0 + frag_key(nt, c, lane) < pend
                           ? ex2(fmaf(s[0][nt][2 + c], p.scale_log2, -lse_b))
                           : 0.0f;
}

// A warp's softmax state, number `state` of those the CTA merges (m and l [states][16], o
// [states][16][S]); kQ8: o's columns are q8_column's, whose n-tiles jn and jn + 1 are adjacent.
template <int D, int S, bool kQ8>
__device__ __forceinline__ void put_state(float *cm, float *cl, float *co, int state,
                                          const float (&m)[1][2], const float (&l)[1][2],
                                          const float (&o)[1][D / 8][4], int lane) {
    const int row_a = lane >> 2, row_b = row_a + 8;
    const float la = quad_sum(l[0][0]), lb = quad_sum(l[0][1]);
    if ((lane & 3) == 0) {
        cm[state * 16 + row_a] = m[0][0];
        cm[state * 16 + row_b] = m[0][1];
        cl[state * 16 + row_a] = la;
        cl[state * 16 + row_b] = lb;
    }
    float *a = co + (state * 16 + row_a) * S, *b = co + (state * 16 + row_b) * S;
    if constexpr (kQ8) {
#pragma unroll
        for (int dt = 0; dt < D / 8; dt += 2)
#pragma unroll
            for (int c = 0; c < 4; ++c) {
                float *row = c < 2 ? a : b;
                *reinterpret_cast<float2 *>(row + q8_column<D>(dt, c, lane)) =
                    make_float2(o[0][dt][c], o[0][dt + 1][c]);
            }
    } else {
#pragma unroll
        for (int dt = 0; dt < D / 8; ++dt) {
            const int col = dt * 8 + 2 * (lane & 3);
            *reinterpret_cast<float2 *>(a + col) = make_float2(o[0][dt][0], o[0][dt][1]);
            *reinterpret_cast<float2 *>(b + col) = make_float2(o[0][dt][2], o[0][dt][3]);
        }
    }
}

// Copies the Q tile of the CTA's group (rows 0..group-1; zero rows up to 16, except the pending
// query `prev` in rows 8..15 when it is not null) into sq (swz<D> rows), by cp.async through L2,
// as the previous kernel wrote q.
template <int D, int THREADS>
__device__ __forceinline__ void load_query(uint32_t sq, const DecodeParams &p, int seq, int head_kv,
                                           const bf16 *prev, int tid) {
    constexpr int kChunks = D / 8;
    for (int i = tid; i < 16 * kChunks; i += THREADS) {
        const int row = i / kChunks, chunk = i % kChunks;
        const bf16 *src = p.q + seq * p.q_stride + head_kv * p.group * D + chunk * 8;
        bool valid = row < p.group;
        if (valid) {
            src += row * D;
        } else if (prev != nullptr && row >= 8 && row - 8 < p.group) {
            src = prev + (row - 8) * D + chunk * 8;
            valid = true;
        }
        cp_async_16(sq + swz<D>(row, chunk), src, valid);
    }
}

// The end of a split's CTA, once each warp's state is in cm, cl, co (put_state): the merged
// state becomes the split's normalized partial output and log2-sum-exp for the merge, or, with
// one split (p.direct), the output and the record's lse; split 0 leaves this step's query (the
// Q tile at q_tile, swz<D> rows) in the record. Run by the C::kConsumerThreads threads tid.
template <class C, DecodeScores kMode>
__device__ __forceinline__ void write_split(const DecodeParams &p, const float *cm, const float *cl,
                                            const float *co, const unsigned char *q_tile,
                                            const PendingRef &rec, bool recorded, int sid,
                                            int split, int seq, int head_kv, int length,
                                            uint32_t epoch, int tid) {
    constexpr int D = C::D, S = C::kRowFloats;
    constexpr bool kDefer = kMode == DecodeScores::kDefer;
    const int64_t part = static_cast<int64_t>(sid) * p.n_splits + split;
    for (int i = tid; i < p.group * D; i += C::kConsumerThreads) {
        const int row = i / D, col = i % D;
        float mx = -CUDART_INF_F;
#pragma unroll
        for (int w = 0; w < C::kStates; ++w) mx = fmaxf(mx, cm[w * 16 + row]);
        float sum = 0.0f, acc = 0.0f;
#pragma unroll
        for (int w = 0; w < C::kStates; ++w) {
            float f = ex2(cm[w * 16 + row] - mx);  // 0 for a state that saw no key
            sum += cl[w * 16 + row] * f;
            acc += co[(w * 16 + row) * S + col] * f;
        }
        if (p.direct) {
            p.out[seq * p.out_stride + (head_kv * p.group + row) * D + col] =
                __float2bfloat16_rn(acc / sum);
            if (recorded && col == 0) rec.lse()[row] = mx + __log2f(sum);
        } else {
            p.part_o[(part * p.group + row) * D + col] = acc / sum;
            if (col == 0) p.part_lse[part * p.group + row] = mx + __log2f(sum);
        }
    }
    if (!recorded) return;
    if (split == 0) {  // this step's query, for the next step (or settle)
        // Other splits may still read the pending query: staged for the merge to move.
        constexpr int kChunks = D / 8;
        bf16 *dst = p.direct || !kDefer ? rec.q() : rec.staging(p.group, D);
        for (int i = tid; i < p.group * kChunks; i += C::kConsumerThreads) {
            const int row = i / kChunks, chunk = i % kChunks;
            *reinterpret_cast<uint4 *>(dst + row * D + chunk * 8) =
                *reinterpret_cast<const uint4 *>(q_tile + swz<D>(row, chunk));
        }
    }
    // One split: this CTA is the stream's only one, and its threads read the header before
    // the barriers that precede this.
    if (p.direct && tid == 0) store_header(rec, length, epoch);
}

template <class C, DecodeScores kMode>
__global__ void __launch_bounds__(C::kThreads)
    decode_kernel(const __grid_constant__ DecodeParams p) {
    constexpr int D = C::D, BN = C::BN, DT = C::DT, NT = C::NT, STAGES = C::STAGES;
    constexpr int kWarpKeys = C::kWarpKeys;
    constexpr bool kDefer = kMode == DecodeScores::kDefer;
    constexpr bool kRecord = kMode != DecodeScores::kNone;
    extern __shared__ __align__(128) unsigned char smem[];
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int split = blockIdx.x, head_kv = blockIdx.y, seq = blockIdx.z;
    const int sid = seq * p.n_head_kv + head_kv;
    const DeviceStream st = p.streams[sid];
    const int length = min(st.length, p.max_length);
    const StreamSplits splits =
        stream_splits(st, length, p.chunk, p.n_splits, C::Q8 ? p.q8_tile : 0);
    if (split >= splits.count) {        // a stream shorter than max_length: fewer splits
        if (p.direct && length == 0) {  // an empty stream: zero rows (the merge writes them else)
            grid_dependency_wait();
            for (int i = tid; i < p.group * D; i += C::kThreads)
                p.out[seq * p.out_stride + head_kv * p.group * D + i] = __float2bfloat16_rn(0.0f);
        }
        return;
    }
    const int begin = splits.begin(split), end = splits.end(split);
    DecodeTiles<C> tiles{begin, 0, 0};
    if constexpr (C::Q8) tiles.n_q8 = count_q8_tiles<C>(p.kv, st.blocks, begin, end, tid);
    const int wide_keys = end - tiles.key0(tiles.n_q8);
    tiles.count = tiles.n_q8 + (wide_keys + BN - 1) / BN;
    const int n_tiles = tiles.count;
    const uint32_t sq = smem_u32(smem), ring = sq + C::kQBytes;

    // The stream's record (written by an earlier step's kernels, never by the one this kernel
    // may overlap). Its header is first needed after the first tiles' copies are issued. A
    // stream without a record (id < 0: none kept for it) neither reads nor leaves one.
    const bool recorded = kRecord && (!kDefer || st.id >= 0);
    const bool consumes = kDefer && recorded;
    PendingRef rec{};
    PendingHeader h{};
    float lse_b = 0.0f;  // the pending log2-sum-exp of this thread's row 8 + lane / 4
    if (recorded) rec = pending_record(p.pending, p.record_bytes, kDefer ? st.id : sid);
    if (consumes) {
        h = load_header(rec);
        if ((lane >> 2) < p.group) lse_b = __ldcg(rec.lse() + (lane >> 2));
    }

    // Launched as a programmatic dependent, the kernel may start while the previous one still
    // writes q and the slot this step appended, the stream's last: the ring's first tiles load
    // before the wait when they end before that slot (block tables and older keys are not
    // written during a step), Q and the other tiles after it. Empty groups keep the count of
    // commit groups uniform.
    auto prefetch = [&](int t) {
        if (t < n_tiles) prefetch_blocks(p.kv, st.blocks, tiles.key0(t), tiles.keys(t), end, tid);
    };
    prefetch(STAGES - 1);
    int s = 0;
    for (; s < STAGES - 1; ++s) {
        if (s < n_tiles && min(end, tiles.key0(s) + tiles.keys(s)) > length - 1) break;
        if (s < n_tiles)
            load_decode_tile<C>(ring + s * C::kStageBytes, p, st.blocks, tiles, s, end, tid);
        cp_async_commit();
    }
    grid_dependency_wait();
    allow_dependents();  // the merge's CTAs may launch
    // Asynchronous, in its own commit group, so that it is in flight with the tiles below.
    load_query<D, C::kThreads>(sq, p, seq, head_kv, consumes ? rec.q() : nullptr, tid);
    cp_async_commit();
    const int after_q = STAGES - 1 - s;  // tile groups committed after Q's
    for (; s < STAGES - 1; ++s) {
        if (s < n_tiles)
            load_decode_tile<C>(ring + s * C::kStageBytes, p, st.blocks, tiles, s, end, tid);
        cp_async_commit();
    }
    // Q's group and every one before it (the first tiles) landed; the main loop's waits count
    // the extra group as one more before theirs, which only makes them wait for as much.
    cp_async_wait_upto<STAGES - 1>(after_q);
    // The pending query's keys: a prefix of those before the slot this step appends. (Its rows
    // were loaded whatever it holds: stale rows only make rows 8..15 of S, which go nowhere.)
    const int pend = consumes ? min(pending_keys(h, st.epoch, length - 1), end) : 0;
    __syncthreads();
    // Waits for tile t, issues the copy of the tile STAGES - 1 later into the stage freed by
    // tile t - 1 and gives tile t's stage.
    auto next_stage = [&](int t) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();  // tile t landed; every warp is done with tile t - 1's stage
        const int next = t + STAGES - 1;
        if (next < n_tiles)
            load_decode_tile<C>(ring + (next % STAGES) * C::kStageBytes, p, st.blocks, tiles, next,
                                end, tid);
        cp_async_commit();
        prefetch(next + 1);
        return ring + (t % STAGES) * C::kStageBytes;
    };

    int t = 0;
    // The int8 tiles' warp state (Q8), columns in q8_column's order.
    [[maybe_unused]] float o8[1][DT][4], m8[1][2], l8[1][2];
    if constexpr (C::Q8) {
#pragma unroll
        for (int dt = 0; dt < DT; ++dt)
#pragma unroll
            for (int c = 0; c < 4; ++c) o8[0][dt][c] = 0.0f;
        m8[0][0] = m8[0][1] = -CUDART_INF_F;
        l8[0][0] = l8[0][1] = 0.0f;
        uint32_t qh[D / 16][4];
        float rowmul[2];
        if (tiles.n_q8 > 0) q8_query<D>(qh, rowmul, smem, lane);
        constexpr int kWarpKeys8 = C::kQ8WarpKeys, NT8 = kWarpKeys8 / 8;
        for (; t < tiles.n_q8; ++t) {
            const unsigned char *stage = smem + (next_stage(t) - sq);
            const float *scales = reinterpret_cast<const float *>(stage + 2 * C::kTileBytes);
            const int row0 = warp * kWarpKeys8, key0 = tiles.key0(t) + row0;  // the warp's keys
            float s[1][NT8][4];
            q8_qk<D, C::Fp8>(s, qh, stage, row0, lane);
            q8_scale_scores(s, scales + row0, rowmul, lane);
            [[maybe_unused]] float v[NT8][2];
            const bool pending = kDefer && key0 < pend;  // warp-uniform
            if (pending) pending_probs(v, s, p, key0, pend, lse_b, lane);
            online_softmax<1, NT8, DT>(s, m8, l8, o8, p.scale_log2);  // every key is in range
            scale_keys<NT8>(s, scales + C::kQ8Keys + row0, lane);     // P by V's scales; l has P
            q8_pv<D, C::Fp8>(o8[0], s, stage + C::kTileBytes, row0, lane);
            if (pending) settle_warp_keys<NT8, false>(v, p.kv, st.blocks, key0, pend, lane);
        }
    }

    // Q's fragments stay in registers, but not beside the int8 tiles' state (Q8): its registers
    // would spill.
    [[maybe_unused]] uint32_t qf[D / 16][4];
    if constexpr (!C::Q8)
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) ldsm_a<D>(qf[kk], sq, 0, kk, lane);
    float o[1][DT][4], m[1][2], l[1][2];
#pragma unroll
    for (int dt = 0; dt < DT; ++dt)
#pragma unroll
        for (int c = 0; c < 4; ++c) o[0][dt][c] = 0.0f;
    m[0][0] = m[0][1] = -CUDART_INF_F;
    l[0][0] = l[0][1] = 0.0f;
    const int limit[1][2] = {{end - 1, end - 1}};
    for (; t < n_tiles; ++t) {
        const uint32_t sk = next_stage(t), sv = sk + C::kTileBytes;
        const int tile0 = tiles.key0(t), key0 = tile0 + warp * kWarpKeys;  // this warp's keys
        // 8-bit rows (a tile at the stream's 8-bit / bf16 boundary): widened in place, their
        // scales on S and P (1 for the bf16 rows).
        [[maybe_unused]] const float *scales = nullptr;  // K's of this warp's keys, V's after
        [[maybe_unused]] bool mixed = false;
        if constexpr (C::Q8) {
            mixed = q8_block(p.kv, block_of(p.kv, st.blocks, tile0));
            if (mixed) {
                widen_q8_rows<D>(sk, p.kv, st.blocks, tile0, warp * kWarpKeys, end, lane);
                widen_q8_rows<D>(sv, p.kv, st.blocks, tile0, warp * kWarpKeys, end, lane);
                scales = reinterpret_cast<const float *>(smem + (sk - sq) + 2 * C::kTileBytes) +
                         warp * kWarpKeys;
            }
        }
        float s[1][NT][4];
        if constexpr (C::Q8) {
            warp_qk<D, 1, NT>(s, sq, 0, sk, warp * kWarpKeys, lane);
        } else {
            warp_qk_regs<D, NT>(s, qf, sk, warp * kWarpKeys, lane);
        }
        if constexpr (C::Q8)
            if (mixed) scale_keys<NT>(s, scales, lane);
        // Rows 8..15 hold the pending query: its probabilities now (the softmax overwrites s),
        // their sums over the group and the accumulators' update after this tile's P V is
        // issued, off the path from S to P V.
        [[maybe_unused]] float v[NT][2];
        const bool pending = kDefer && key0 < pend;  // warp-uniform
        if (pending) pending_probs(v, s, p, key0, pend, lse_b, lane);
        if (key0 + kWarpKeys > end) mask_keys<1, NT>(s, limit, key0, lane);
        online_softmax<1, NT, DT>(s, m, l, o, p.scale_log2);
        if constexpr (C::Q8)
            if (mixed) scale_keys<NT>(s, scales + C::kQ8Keys, lane);  // P by V's scales
        warp_pv<D, 1, NT>(o, s, sv, warp * kWarpKeys, lane);
        if (pending) settle_warp_keys<NT, false>(v, p.kv, st.blocks, key0, pend, lane);
    }
    cp_async_wait<0>();
    __syncthreads();  // the ring is free: merge the warps' states through it

    float *cm = reinterpret_cast<float *>(smem + C::kQBytes);
    float *cl = cm + C::kStates * 16, *co = cl + C::kStates * 16;
    constexpr int S = C::kRowFloats;
    put_state<D, S, false>(cm, cl, co, warp, m, l, o, lane);
    if constexpr (C::Q8) put_state<D, S, true>(cm, cl, co, C::WARPS + warp, m8, l8, o8, lane);
    __syncthreads();
    write_split<C, kMode>(p, cm, cl, co, smem, rec, recorded, sid, split, seq, head_kv, length,
                          st.epoch, tid);
}

}  // namespace cab::cuda::attn
