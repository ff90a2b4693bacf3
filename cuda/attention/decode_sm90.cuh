// The Hopper decode kernel: decode.cuh's split-K kernel over bf16 blocks, with its K/V tiles
// copied by tensor copies (TMA) from one producer warp into an mbarrier ring, so that the four
// consumer warps issue no copy and meet at no CTA-wide barrier per tile. A tile of 64 keys is
// one box per pool block (or the tile's part of a larger block) and 64 columns, for K and V;
// its arrival completes the stage's `full` barrier, and each consumer thread arrives on the
// stage's `empty` barrier when it has read the tile, which the producer waits for before the
// stage's next fill. Rows past the split's end (in its last block, or not copied at all) are
// masked out of S, and the warps that own them zero their V rows before P V, so stale or
// uninitialised bytes never meet the products. Everything else (the Q tile with the pending
// query, the per-warp online softmax, the pending scores, the warps' merge, the split's
// output) is decode.cuh's.
#pragma once

#include <cuda.h>  // CUtensorMap (the driver is reached through the runtime: nothing to link)

#include "attention/async_ring.cuh"
#include "attention/decode.cuh"
#include "attention/wgmma.cuh"

namespace cab::cuda::attn {

// The kernel's parameters: those of decode.cuh and a map over the pool (rows of head_dim bf16,
// 128-byte swizzle, boxes of tma_rows rows and 64 columns).
struct DecodeSm90Params {
    CUtensorMap kv_map;
    DecodeParams base;
    int32_t tma_rows;
};

// 64-key tiles and 3 stages, as decode.cuh's: deeper rings leave fewer CTAs per SM, and so fewer
// consumer warps, which the scores' reductions need (6 stages at d 64, 2 CTAs per SM: 3-5%
// slower at batch 16-64 with scores; 12 stages, or 6 at d 128: up to 13%).
template <int D_>
struct DecodeSm90Config {
    static constexpr int D = D_, BN = 64, WARPS = 4, STAGES = 3;
    static constexpr int kConsumerThreads = WARPS * 32, kThreads = kConsumerThreads + 32;
    static constexpr int DT = D / 8, kWarpKeys = BN / WARPS, NT = kWarpKeys / 8;
    static constexpr int kQBytes = 16 * D * 2, kTileBytes = BN * D * 2;
    static constexpr int kStageBytes = 2 * kTileBytes;  // K then V, each D / 64 [BN][64] blocks
    static constexpr int kStates = WARPS, kRowFloats = D + 4;
    static constexpr int kCombineBytes = kStates * 16 * (kRowFloats + 2) * 4;
    static constexpr int kBarrierBytes = 2 * STAGES * 8;  // full, empty
    // Slack to align the ring to 1024 bytes (the 128-byte swizzle's atom).
    static constexpr int kSmemBytes = 1024 + STAGES * kStageBytes + kQBytes + kBarrierBytes;
    static_assert(kCombineBytes <= STAGES * kStageBytes, "the combine buffer reuses the ring");
    // CTAs per SM that shared memory allows (228 KB, 1 KB of it reserved per CTA), which the
    // registers must allow too.
    static constexpr int kMinBlocks = 228 * 1024 / (kSmemBytes + 1024);
};

template <class C>
struct DecodeSm90Smem {
    uint32_t ring, q, bars;
    unsigned char *ring_ptr, *q_ptr;

    __device__ __forceinline__ static DecodeSm90Smem at(unsigned char *raw_ptr) {
        DecodeSm90Smem s;
        const uint32_t raw = smem_u32(raw_ptr), base = (raw + 1023) & ~1023u;
        s.ring = base;
        s.q = base + C::STAGES * C::kStageBytes;
        s.bars = s.q + C::kQBytes;
        s.ring_ptr = raw_ptr + (base - raw);
        s.q_ptr = s.ring_ptr + (s.q - base);
        return s;
    }
    __device__ __forceinline__ uint32_t stage(int t) const {
        return ring + static_cast<uint32_t>(t) % C::STAGES * C::kStageBytes;
    }
    __device__ __forceinline__ uint32_t full(int t) const {
        return bars + 8 * (static_cast<uint32_t>(t) % C::STAGES);
    }
    __device__ __forceinline__ uint32_t empty(int t) const {
        return bars + 8 * (C::STAGES + static_cast<uint32_t>(t) % C::STAGES);
    }
    // Parity of the phase that fill t / STAGES of tile t's stage completes.
    __device__ __forceinline__ static uint32_t parity(int t) {
        return (static_cast<uint32_t>(t) / C::STAGES) & 1u;
    }
};

// The producer warp: tile t of the split's keys [begin, end) into stage t % STAGES once its
// previous tile is released. Lane i copies the tile's box i (the rows of its block-table entry,
// loaded a tile ahead). Tiles that reach the stream's last slot, which the previous kernel of
// the step appends, are copied only after the grid dependency wait.
template <class C>
__device__ __forceinline__ void decode_produce(const DecodeSm90Params &pp, const int32_t *blocks,
                                               const DecodeSm90Smem<C> &sm, int length, int begin,
                                               int end, int n_tiles, int lane) {
    const PagedKv &kv = pp.base.kv;
    const int rows = pp.tma_rows;
    auto entry_of = [&](int t) {
        const int key = begin + t * C::BN + lane * rows;
        return lane < C::BN / rows && key < end ? block_of(kv, blocks, key) : 0;
    };
    int32_t entry = entry_of(0);
    bool waited = false;
    for (int t = 0; t < n_tiles; ++t) {
        const int key0 = begin + t * C::BN, keys = min(C::BN, end - key0);
        const int32_t next = t + 1 < n_tiles ? entry_of(t + 1) : 0;
        if (!waited && key0 + keys > length - 1) {
            grid_dependency_wait();
            waited = true;
        }
        mbarrier_wait(sm.empty(t), DecodeSm90Smem<C>::parity(t) ^ 1u);
        const int boxes = (keys + rows - 1) / rows;
        const uint32_t full = sm.full(t), stage = sm.stage(t);
        if (lane == 0) mbarrier_arrive_expect_tx(full, 2 * boxes * rows * C::D * 2);
        __syncwarp();
        if (lane < boxes) {
#pragma unroll
            for (int v = 0; v < 2; ++v) {
                const int row = static_cast<int>(kv_pool_row(kv, entry, key0 + lane * rows, v));
#pragma unroll
                for (int cb = 0; cb < C::D / 64; ++cb)
                    tma_load_2d(stage + v * C::kTileBytes + cb * (C::BN * 128) + lane * rows * 128,
                                &pp.kv_map, cb * 64, row, full);
            }
        }
        entry = next;
    }
}

// Zeroes the V rows [first, BN) of the warp's 16 keys at row0 of a tile (those at or past the
// split's end), before P V reads them.
template <class C>
__device__ __forceinline__ void zero_value_rows(unsigned char *sv, int row0, int first, int lane) {
    using Tile = BlockSwizzle128<C::BN>;
    constexpr int kChunks = C::D / 8;
    for (int i = lane; i < C::kWarpKeys * kChunks; i += 32) {
        const int row = row0 + i / kChunks, chunk = i % kChunks;
        if (row >= first) *reinterpret_cast<uint4 *>(sv + Tile::offset(row, chunk)) = uint4{};
    }
    __syncwarp();
}

template <class C, DecodeScores kMode>
__global__ void __launch_bounds__(C::kThreads, C::kMinBlocks)
    decode_sm90_kernel(const __grid_constant__ DecodeSm90Params params) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
    const DecodeParams &p = params.base;
    using Tile = BlockSwizzle128<C::BN>;
    constexpr int D = C::D, BN = C::BN, DT = C::DT, NT = C::NT, kWarpKeys = C::kWarpKeys;
    constexpr bool kDefer = kMode == DecodeScores::kDefer;
    constexpr bool kRecord = kMode != DecodeScores::kNone;
    extern __shared__ unsigned char smem_raw[];
    const DecodeSm90Smem<C> sm = DecodeSm90Smem<C>::at(smem_raw);
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int split = blockIdx.x, head_kv = blockIdx.y, seq = blockIdx.z;
    const int sid = seq * p.n_head_kv + head_kv;
    const DeviceStream st = p.streams[sid];
    const int length = min(st.length, p.max_length);
    // decode.cuh's prologue, written out: a helper shared by both kernels, returning the split's
    // keys, made the head_dim 64 kernels with scores 2-3% slower at batch 16-64, 4k keys.
    const StreamSplits splits = stream_splits(st, length, p.chunk, p.n_splits, 0);
    if (split >= splits.count) {        // a stream shorter than max_length: fewer splits
        if (p.direct && length == 0) {  // an empty stream: zero rows (the merge writes them else)
            grid_dependency_wait();
            for (int i = tid; i < p.group * D; i += C::kThreads)
                p.out[seq * p.out_stride + head_kv * p.group * D + i] = __float2bfloat16_rn(0.0f);
        }
        return;
    }
    const int begin = splits.begin(split), end = splits.end(split);
    const int n_tiles = (end - begin + BN - 1) / BN;

    if (tid == 0) {
        for (int s = 0; s < C::STAGES; ++s) {
            mbarrier_init(sm.full(s), 1);
            mbarrier_init(sm.empty(s), C::kConsumerThreads);
        }
    }
    __syncthreads();  // the last CTA-wide barrier: the producer may exit before the consumers
    if (warp == C::WARPS) {
        decode_produce<C>(params, st.blocks, sm, length, begin, end, n_tiles, lane);
        allow_dependents();
        return;
    }

    // The stream's record, as in decode.cuh.
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
    grid_dependency_wait();
    allow_dependents();  // the merge's CTAs may launch
    load_query<D, C::kConsumerThreads>(sm.q, p, seq, head_kv, consumes ? rec.q() : nullptr, tid);
    cp_async_commit();
    const int pend = consumes ? min(pending_keys(h, st.epoch, length - 1), end) : 0;
    cp_async_wait<0>();
    named_sync(1, C::kConsumerThreads);
    uint32_t qf[D / 16][4];
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) ldsm_a<D>(qf[kk], sm.q, 0, kk, lane);

    float o[1][DT][4], m[1][2], l[1][2];
#pragma unroll
    for (int dt = 0; dt < DT; ++dt)
#pragma unroll
        for (int c = 0; c < 4; ++c) o[0][dt][c] = 0.0f;
    m[0][0] = m[0][1] = -CUDART_INF_F;
    l[0][0] = l[0][1] = 0.0f;
    const int limit[1][2] = {{end - 1, end - 1}};
    for (int t = 0; t < n_tiles; ++t) {
        const uint32_t sk = sm.stage(t), sv = sk + C::kTileBytes;
        const int row0 = warp * kWarpKeys, key0 = begin + t * BN + row0;  // this warp's keys
        mbarrier_wait(sm.full(t), DecodeSm90Smem<C>::parity(t));
        float s[1][NT][4];
        warp_qk_regs<D, NT, Tile>(s, qf, sk, row0, lane);
        [[maybe_unused]] float v[NT][2];
        const bool pending = kDefer && key0 < pend;  // warp-uniform
        if (pending) pending_probs(v, s, p, key0, pend, lse_b, lane);
        if (key0 + kWarpKeys > end) {
            mask_keys<1, NT>(s, limit, key0, lane);
            zero_value_rows<C>(sm.ring_ptr + (sv - sm.ring), row0, end - (key0 - row0), lane);
        }
        online_softmax<1, NT, DT>(s, m, l, o, p.scale_log2);
        warp_pv<D, 1, NT, Tile>(o, s, sv, row0, lane);
        mbarrier_arrive(sm.empty(t));
        if (pending) settle_warp_keys<NT, false>(v, p.kv, st.blocks, key0, pend, lane);
    }
    named_sync(1, C::kConsumerThreads);  // the ring is free: merge the warps' states through it

    float *cm = reinterpret_cast<float *>(sm.ring_ptr);
    float *cl = cm + C::kStates * 16, *co = cl + C::kStates * 16;
    put_state<D, C::kRowFloats, false>(cm, cl, co, warp, m, l, o, lane);
    named_sync(1, C::kConsumerThreads);
    write_split<C, kMode>(p, cm, cl, co, sm.q_ptr, rec, recorded, sid, split, seq, head_kv, length,
                          st.epoch, tid);
#endif
}

}  // namespace cab::cuda::attn
