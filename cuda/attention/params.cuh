// Kernel-side parameters of the attention kernels, derived on the host from attention.h's args.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "attention/attention.h"

namespace cab::cuda::attn {

using bf16 = __nv_bfloat16;
using attention::DevicePool;
using attention::DeviceStream;

// The paged pool as kernels address it (see page.cuh).
struct PagedKv {
    const bf16 *pool;
    float *scores;        // paged score accumulators (kv/paged.h); null when none are kept
    int32_t block_shift;  // log2(block_size)
    // Int8 blocks (DevicePool in kv/paged.h): null q8 when the pool has none.
    const int8_t *q8;
    const float *q8_scales;
    int32_t first_q8;
    bool q8_fp8;  // fp8 E4M3 codes (kv/q8_element.cuh)
};

// The kernels' view of a pool; scores null when the call keeps none.
inline PagedKv paged_kv(const DevicePool &pool, float *scores, int32_t block_shift) {
    return {static_cast<const bf16 *>(pool.data),
            scores,
            block_shift,
            pool.q8,
            pool.q8_scales,
            pool.first_q8,
            pool.q8_fp8};
}

// Row of each score kind in a block's accumulators (ScoreKind in backend/backend.h).
enum ScoreRow : int { kScoreRow = 0, kObserversRow = 1, kWindowRow = 2, kLastRow = 3 };

struct PrefillParams {
    const bf16 *q;
    bf16 *out;
    int64_t q_stride;
    int64_t out_stride;
    PagedKv kv;
    const DeviceStream *streams;
    int32_t n;         // queries in the chunk
    int32_t group;     // query heads per kv head
    int32_t n_rows;    // n * group packed rows (query-major: row = query * group + head in group)
    int32_t window;    // W of the window score; 0 leaves `window` alone
    float scale_log2;  // log2(e) / sqrt(head_dim): scores are kept in the base-2 domain
    int32_t heads_inner;  // the grid is (kv heads, row tiles), else (row tiles, kv heads)
};

// A prefill CTA's kv head and the rank of its tile of BM rows, rank 0 being the tile with the
// most keys (the chunk's last rows): CTAs start in launch order, so the longest come first.
// prefill.cu puts the heads in x when the grid is a few waves of CTAs, so that every head's
// longest tiles start in the first wave (7B shape, 1k tokens: 224 CTAs on 132 SMs, a head's
// longest tiles had started last); larger grids keep a head's tiles together, as they share its
// keys in L2 (7B shape, 16k-32k tokens, heads in x: 2-5% slower).
struct PrefillCta {
    int head_kv, rank, row0;

    template <int BM>
    __device__ __forceinline__ static PrefillCta of(const PrefillParams &p) {
        PrefillCta c;
        c.head_kv = p.heads_inner ? blockIdx.x : blockIdx.y;
        c.rank = p.heads_inner ? blockIdx.y : blockIdx.x;
        const int tiles = p.heads_inner ? gridDim.y : gridDim.x;
        c.row0 = (tiles - 1 - c.rank) * BM;
        return c;
    }
};

struct DecodeParams {
    const bf16 *q;
    bf16 *out;
    int64_t q_stride;
    int64_t out_stride;
    PagedKv kv;
    const DeviceStream *streams;
    int32_t n_head_kv;
    int32_t group;
    int32_t chunk;     // keys per split, a multiple of the tile
    int32_t n_splits;  // splits of max_length keys (grid x)
    int32_t q8_tile;   // keys of an 8-bit tile when the pool has 8-bit blocks, else 0 (splits.cuh)
    int32_t max_length;  // bound of every stream's length: slots past it are left alone
    int32_t merge_rows;  // rows of a group per merge_vector_kernel CTA; 0: merge_row_kernel
    bool direct;         // one split: write the output (and the pending record), no merge
    bool records_by_id;  // kDefer: record DeviceStream::id of `pending`; else the stream's index
    float scale_log2;
    // Workspace: normalized partial outputs and their log2-sum-exp per (stream, split, head).
    float *part_o;
    float *part_lse;
    // Pending records (pending.h) of record_bytes each: the streams' own (kDefer), or, for
    // kInstall, the workspace's, one per stream of the call.
    void *pending;
    int64_t record_bytes;
};

// settle(): a pending query per stream, applied to its keys; grid (splits, streams).
struct SettleParams {
    PagedKv kv;
    const DeviceStream *streams;
    void *pending;
    int64_t record_bytes;
    bool records_by_id;  // as for DecodeParams
    int32_t group;
    int32_t chunk;       // keys per CTA, a multiple of the tile
    int32_t n_new;       // slots appended after the record was written: never its keys
    int32_t max_length;  // bound of every stream's length
    int32_t count;       // streams
    float scale_log2;
};

}  // namespace cab::cuda::attn
