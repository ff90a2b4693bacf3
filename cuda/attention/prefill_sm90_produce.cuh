// The producer warpgroup of the Hopper prefill kernel: it copies K/V tiles from the paged pool
// into the ring of stages (prefill_sm90_layout.cuh), each fill completing the stage's mbarrier,
// in the order the consumers take them: the flash pass's tiles last to first (K and V), then the
// score pass's (K only). Whole tiles go by tensor copies, one per block and 64 columns; the rest
// by cp.async.
#pragma once

#include "attention/page.cuh"
#include "attention/prefill_sm90_layout.cuh"

namespace cab::cuda::attn {

// Block-table entry of block `lane` of the tile at key0 (0 past the stream's end): one load per
// warp and tile, handed out to the copies by shuffles (produce_kv_tile).
__device__ __forceinline__ int32_t tile_block_entry(const PagedKv &kv, const int32_t *blocks,
                                                    int key0, int end, int lane) {
    const int b = (key0 >> kv.block_shift) + lane;
    return (b << kv.block_shift) < end ? blocks[b] : 0;
}

// load_kv_tile for a producer warp. Where a tile spans at most 32 blocks (`shuffled`) the lanes
// hold its block-table entries (tile_block_entry): no copy then waits on a dependent load.
// Smaller blocks read the table per row. Passes are unrolled UNROLL times only: the producers
// run on few registers (PrefillSm90Config::kProducerUnroll).
template <int D, int ROWS, int THREADS, class Layout, int UNROLL>
__device__ __forceinline__ void produce_kv_tile(uint32_t tile, const PagedKv &kv,
                                                const int32_t *blocks, bool shuffled, int32_t entry,
                                                int key0, int end, bool value, int tid) {
    constexpr int kChunks = D / 8, kRowsPerPass = THREADS / kChunks;
    static_assert(ROWS % kRowsPerPass == 0, "whole passes");
    const int chunk = tid % kChunks, b0 = key0 >> kv.block_shift;
#pragma unroll UNROLL
    for (int pass = 0; pass < ROWS / kRowsPerPass; ++pass) {
        const int row = tid / kChunks + pass * kRowsPerPass, key = key0 + row;
        const bool ok = key < end;
        int32_t block;
        if (shuffled) {
            block = __shfl_sync(0xffffffffu, entry, (key >> kv.block_shift) - b0);
        } else {
            block = ok ? blocks[key >> kv.block_shift] : 0;
        }
        const bf16 *src = ok ? kv_chunk<D>(kv, block, key, value, chunk) : kv.pool;
        cp_async_16(tile + Layout::offset(row, chunk), src, ok);
    }
}

// A whole tile of ROWS keys (every one before the stream's end) of K (value = false) or V by
// tensor copies: lane i copies the tile's box i, each 64-column block of the head separately. Its
// block-table entry comes from the lane holding it (tile_block_entry): lane i where boxes are
// whole blocks, lane 0 where they are parts of one larger block. The copies complete ROWS * D * 2
// bytes on `bar`, which the caller has announced (mbarrier_expect_tx). All 32 lanes call it.
template <int D, int ROWS>
__device__ __forceinline__ void copy_kv_tile_tma(uint32_t tile, const PrefillSm90Params &pp,
                                                 int32_t entry, int key0, bool value, uint32_t bar,
                                                 int lane) {
    const int rows = pp.tma_rows, shift = pp.base.kv.block_shift;
    const int key = key0 + lane * rows;
    const int32_t box_entry = __shfl_sync(0xffffffffu, entry, (key >> shift) - (key0 >> shift));
    if (lane >= ROWS / rows) return;
    const int row = static_cast<int>(kv_pool_row(pp.base.kv, box_entry, key, value));
#pragma unroll
    for (int cb = 0; cb < D / 64; ++cb)
        tma_load_2d(tile + cb * (ROWS * 128) + lane * rows * 128, &pp.kv_map, cb * 64, row, bar);
}

// The fill of one tile of ROWS keys into `tile`, completing `bar`: by tensor copies from warp 0
// where tile_by_tma allows (`tma`), else by cp.async from the P producer threads.
template <class C, int ROWS, int P>
__device__ __forceinline__ void produce_fill(uint32_t tile, const PrefillSm90Params &pp,
                                             const DeviceStream &st, bool tma, bool shuffled,
                                             int32_t entry, int key0, bool value, uint32_t bar,
                                             int tid) {
    if (tma) {
        if (tid == 0) mbarrier_expect_tx(bar, ROWS * C::D * 2);
        __syncwarp();
        copy_kv_tile_tma<C::D, ROWS>(tile, pp, entry, key0, value, bar, tid & 31);
        mbarrier_arrive(bar);
    } else {
        produce_kv_tile<C::D, ROWS, P, BlockSwizzle128<ROWS>, C::kProducerUnroll>(
            tile, pp.base.kv, st.blocks, shuffled, entry, key0, st.length, value, tid);
        cp_async_arrive(bar);
    }
}

// The P producer threads (warp 0 where the map allows tensor copies, else all of warpgroup 0,
// PrefillSm90Config::kTmaProducerThreads): tile g of the flash pass (key tile n_tiles - 1 - g, K
// and V) and, with scores, step j = g - n_tiles of the score pass (K only), stage g % STAGES.
// Whole tiles go by tensor copies from warp 0 (when the map allows: PrefillSm90Params), the tile
// that reaches past the stream's end (its missing rows must be zeros) and every tile of small
// blocks by cp.async from the P threads. Each of them arrives once on each fill's barrier either
// way. The block-table entries of fill g + 1 load while fill g's copies are issued.
template <class C, bool kScores, int P>
__device__ __forceinline__ void prefill_produce(const PrefillSm90Params &pp, const DeviceStream &st,
                                                const PrefillTiles &t, const PrefillSmem<C> &sm,
                                                int tid) {
    const PrefillParams &p = pp.base;
    const int total = kScores ? t.n_tiles + t.n_steps : t.n_tiles, lane = tid & 31;
    auto key0_of = [&](int g) {
        return g < t.n_tiles ? (t.n_tiles - 1 - g) * C::BN : t.score_tile(g - t.n_tiles) * C::BNS;
    };
    // The lanes hold the block-table entries of a tile's first 32 blocks wherever tensor copies
    // may run (blocks of at least 4 keys: a flash tile's 128 keys span at most 32). cp.async
    // fills take them from the lanes where the tile spans at most 32 blocks (`shuffled`).
    const bool entries = p.kv.block_shift >= 2;
    int32_t entry = entries ? tile_block_entry(p.kv, st.blocks, key0_of(0), st.length, lane) : 0;
    for (int g = 0; g < total; ++g) {
        const int key0 = key0_of(g);
        int32_t next = 0;
        if (entries && g + 1 < total)
            next = tile_block_entry(p.kv, st.blocks, key0_of(g + 1), st.length, lane);
        mbarrier_wait(sm.empty(g), fill_parity<C>(g) ^ 1u);
        const uint32_t stage = sm.stage(g);
        if (g < t.n_tiles) {  // K and V of the flash pass
            const bool tma = P == C::kTmaProducerThreads && tile_by_tma<C::BN>(pp, key0, st.length);
            const bool shuffled = entries && (C::BN >> p.kv.block_shift) <= 32;
            for (int v = 0; v < 2; ++v)
                produce_fill<C, C::BN, P>(stage + v * C::kTileBytes, pp, st, tma, shuffled, entry,
                                          key0, v, v ? sm.v_full(g) : sm.k_full(g), tid);
        } else {  // K of the score pass
            const bool tma =
                P == C::kTmaProducerThreads && tile_by_tma<C::BNS>(pp, key0, st.length);
            const bool shuffled = entries && (C::BNS >> p.kv.block_shift) <= 32;
            produce_fill<C, C::BNS, P>(stage, pp, st, tma, shuffled, entry, key0, false,
                                       sm.k_full(g), tid);
        }
        entry = next;
    }
    cp_async_wait<0>();  // nothing in flight when the warps exit
}

}  // namespace cab::cuda::attn
