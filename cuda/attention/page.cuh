// Shared-memory tiles and the paged KV pool (K/V and score accumulators). Tiles are [rows][D]
// bf16 with 16-byte chunks XOR-swizzled by row (chunk c of row r at c ^ (r % 8)), so the 8 row
// addresses of an ldmatrix hit 8 different bank groups. K/V rows and scores come straight from
// the paged pool: a tile's rows may span any number of blocks of any block size, so the engine's
// block tables need no copy.
#pragma once

#include "attention/mma.cuh"
#include "attention/params.cuh"

namespace cab::cuda::attn {

template <int D>
__device__ __forceinline__ uint32_t swz(int row, int chunk) {
    return static_cast<uint32_t>(row * D * 2 + ((chunk ^ (row & 7)) << 4));
}

// The tile layout of the mma.sync kernels, as a loader's Layout argument (wgmma.cuh has the
// other).
template <int D>
struct RowSwizzle {
    static __device__ __forceinline__ uint32_t offset(int row, int chunk) {
        return swz<D>(row, chunk);
    }
};

// A fragment of rows row0..row0+15, k-step kk (columns 16kk..16kk+15) of a row-major tile (Q).
template <int D>
__device__ __forceinline__ void ldsm_a(uint32_t (&a)[4], uint32_t tile, int row0, int kk,
                                       int lane) {
    int row = row0 + (lane & 7) + ((lane >> 3) & 1) * 8;
    ldmatrix_x4(a, tile + swz<D>(row, kk * 2 + (lane >> 4)));
}

// B fragments of K^T for keys key0..key0+15 at k-step kk: b[0..1] for keys key0..+7 and b[2..3]
// for key0+8..+15. Layout: the tile's (RowSwizzle, or wgmma.cuh's for tensor-copied tiles).
template <int D, class Layout = RowSwizzle<D>>
__device__ __forceinline__ void ldsm_k(uint32_t (&b)[4], uint32_t tile, int key0, int kk,
                                       int lane) {
    int key = key0 + (lane & 7) + (lane >> 4) * 8;
    ldmatrix_x4(b, tile + Layout::offset(key, kk * 2 + ((lane >> 3) & 1)));
}

// B fragments of V for keys key0..key0+15 (the k dimension) and columns 16dp..16dp+15: b[0..1]
// for columns 16dp..+7 and b[2..3] for 16dp+8..+15.
template <int D, class Layout = RowSwizzle<D>>
__device__ __forceinline__ void ldsm_v(uint32_t (&b)[4], uint32_t tile, int key0, int dp,
                                       int lane) {
    int key = key0 + (lane & 7) + ((lane >> 3) & 1) * 8;
    ldmatrix_x4_trans(b, tile + Layout::offset(key, dp * 2 + (lane >> 4)));
}

// Pool row of K (value = false) or V row `key` of a stream, whose key lies in pool block `block`
// (K and V blocks alternate in the pool; a row is head_dim bf16).
__device__ __forceinline__ int64_t kv_pool_row(const PagedKv &kv, int64_t block, int key,
                                               bool value) {
    return ((block * 2 + (value ? 1 : 0)) << kv.block_shift) + (key & ((1 << kv.block_shift) - 1));
}

// Address of 16-byte chunk `chunk` of that row.
template <int D>
__device__ __forceinline__ const bf16 *kv_chunk(const PagedKv &kv, int64_t block, int key,
                                                bool value, int chunk) {
    return kv.pool + kv_pool_row(kv, block, key, value) * D + chunk * 8;
}

// Block-table entry of a stream's key, through the read-only path: tables are not written while
// a kernel that reads them runs (ops follow the flush that fills them). As a generic load it had
// to be ordered with the copies into shared memory around it, each copy waiting for its row's
// load; through this path a thread's loads all issue before its first copy.
__device__ __forceinline__ int32_t block_of(const PagedKv &kv, const int32_t *blocks, int key) {
    return __ldg(blocks + (key >> kv.block_shift));
}

// Calls copy(offset, k, ok) for each of this thread's chunks of a tile of a stream's rows
// [key0, key0 + ROWS) laid out by Layout: `offset` is the chunk's place in the tile, `k` the
// address of its K chunk in the pool (the same chunk of V lies D << block_shift elements
// further: a block's V rows follow its K rows), `ok` false for rows at or past `end` (k is then
// the pool's start, unread). All of the thread's block-table entries load before its first copy.
template <int D, int ROWS, int THREADS, class Layout, class Copy>
__device__ __forceinline__ void for_tile_chunks(const PagedKv &kv, const int32_t *blocks, int key0,
                                                int end, int tid, Copy &&copy) {
    constexpr int kChunks = D / 8, kRowsPerPass = THREADS / kChunks;
    constexpr int kPasses = ROWS / kRowsPerPass;
    static_assert(ROWS % kRowsPerPass == 0, "tile rows must be a multiple of a pass");
    const int chunk = tid % kChunks, row0 = tid / kChunks;
    int32_t block[kPasses];
#pragma unroll
    for (int pass = 0; pass < kPasses; ++pass) {
        const int key = key0 + row0 + pass * kRowsPerPass;
        block[pass] = key < end ? block_of(kv, blocks, key) : 0;
    }
#pragma unroll
    for (int pass = 0; pass < kPasses; ++pass) {
        const int row = row0 + pass * kRowsPerPass, key = key0 + row;
        const bool ok = key < end;
        copy(Layout::offset(row, chunk),
             ok ? kv_chunk<D>(kv, block[pass], key, false, chunk) : kv.pool, ok);
    }
}

// Starts the copy of a stream's K (value = false) or V rows [key0, key0 + ROWS) into a tile laid
// out by Layout; rows at or past `end` become zeros, so masked keys never meet uninitialised
// (NaN) values.
template <int D, int ROWS, int THREADS, class Layout = RowSwizzle<D>>
__device__ __forceinline__ void load_kv_tile(uint32_t tile, const PagedKv &kv,
                                             const int32_t *blocks, int key0, int end, bool value,
                                             int tid) {
    const int64_t v = value ? static_cast<int64_t>(D) << kv.block_shift : 0;
    for_tile_chunks<D, ROWS, THREADS, Layout>(
        kv, blocks, key0, end, tid,
        [&](uint32_t at, const bf16 *k, bool ok) { cp_async_16(tile + at, ok ? k + v : k, ok); });
}

// load_kv_tile of K into k_tile and V into v_tile at once: a row's block is looked up once for
// both.
template <int D, int ROWS, int THREADS, class Layout = RowSwizzle<D>>
__device__ __forceinline__ void load_kv_tiles(uint32_t k_tile, uint32_t v_tile, const PagedKv &kv,
                                              const int32_t *blocks, int key0, int end, int tid) {
    const int64_t v = static_cast<int64_t>(D) << kv.block_shift;
    for_tile_chunks<D, ROWS, THREADS, Layout>(kv, blocks, key0, end, tid,
                                              [&](uint32_t at, const bf16 *k, bool ok) {
                                                  cp_async_16(k_tile + at, k, ok);
                                                  cp_async_16(v_tile + at, ok ? k + v : k, ok);
                                              });
}

// Pulls the block-table entries of keys [key0, key0 + ROWS) into L1 one step ahead of
// load_kv_tile: its address lookups are then L1 hits instead of stalling the issuing warps.
__device__ __forceinline__ void prefetch_blocks(const PagedKv &kv, const int32_t *blocks, int key0,
                                                int rows, int end, int tid) {
    if (key0 < 0 || key0 >= end) return;
    if (tid == 0) prefetch_l1(blocks + (key0 >> kv.block_shift));
    if (tid == 32) prefetch_l1(blocks + ((min(key0 + rows, end) - 1) >> kv.block_shift));
}

template <int ROWS>
__device__ __forceinline__ void prefetch_blocks(const PagedKv &kv, const int32_t *blocks, int key0,
                                                int end, int tid) {
    prefetch_blocks(kv, blocks, key0, ROWS, end, tid);
}

// Score accumulators of a stream's slot (kv/paged.h): the address of its kind-0 (score) float;
// kind k lies k << block_shift floats further. The slots of a block are consecutive floats of
// each kind, so consecutive threads on consecutive slots make coalesced accesses.
__device__ __forceinline__ float *slot_scores(const PagedKv &kv, const int32_t *blocks, int slot) {
    const int64_t block = block_of(kv, blocks, slot);
    return kv.scores + ((block * kScoreKinds) << kv.block_shift) +
           (slot & ((1 << kv.block_shift) - 1));
}

}  // namespace cab::cuda::attn
