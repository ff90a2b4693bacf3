// Kernel-side parameters of the attention kernels, derived on the host from attention.h's args.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "attention/attention.h"

namespace cab::cuda::attn {

using bf16 = __nv_bfloat16;
using attention::DeviceStream;

// The paged pool as kernels address it (see page.cuh).
struct PagedKv {
    const bf16 *pool;
    float *scores;        // paged score accumulators (kv/paged.h); null when none are kept
    int32_t block_shift;  // log2(block_size)
};

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
    int32_t chunk;       // keys per split, a multiple of the tile
    int32_t n_splits;    // splits of max_length keys (grid x)
    int32_t max_length;  // bound of every stream's length: slots past it are left alone
    int32_t key_cap;     // max_length rounded up to the tile: row pitch of probs
    bool direct;         // one split: write the output (and scores), no merge
    float scale_log2;
    // Workspace: normalized partial outputs and their log2-sum-exp per (stream, split, head);
    // with scores, each key's probability relative to its 16-key slice's reference max
    // (probs [stream][head][key_cap]) and that reference (slice_m [stream][key_cap / 16][head]).
    float *part_o;
    float *part_lse;
    float *probs;
    float *slice_m;
};

}  // namespace cab::cuda::attn
