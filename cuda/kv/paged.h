// The paged KV pool and its streams as CUDA kernels see them (the device-side mirror of
// KvPoolRef / StreamRef in backend/backend.h). Shared by the attention and KV kernels.
#pragma once

#include <cstdint>

namespace cab::cuda {

// The bf16 KV pool: block b holds K[block_size][head_dim] followed by V[block_size][head_dim].
// block_size is a power of two; head_dim 64 or 128. Blocks may also be 8-bit (below).
struct DevicePool {
    const void *data = nullptr;
    int32_t block_size = 16;
    int32_t head_dim = 0;
    // F32 score accumulators, paged like K/V: slot r of block b has kind k (0 score, 1 observers,
    // 2 window, 3 last; see ScoreKind) at scores[(b * 4 + k) * block_size + r]. Null when the
    // cache keeps no scores.
    float *scores = nullptr;
    // 8-bit blocks (kv/quant_q8.h): ids from first_q8 on, block b's K rows then V rows at block
    // b - first_q8 of q8 ([block_size][head_dim] bytes each), one F32 scale per row in q8_scales
    // (same row index). Null q8: none.
    int8_t *q8 = nullptr;
    float *q8_scales = nullptr;
    int32_t first_q8 = 0;
    bool q8_fp8 = false;  // their bytes are fp8 E4M3 codes, not int8 values (kv/q8_element.cuh)
};

constexpr int32_t kScoreKinds = 4;

#ifdef __CUDACC__
__host__ __device__
#endif
    inline bool
    is_q8_block(const DevicePool &pool, int64_t block) {
    return pool.q8 != nullptr && block >= pool.first_q8;
}

// Row index (into q8 and q8_scales) of K (value 0) or V (value 1) row r of int8 block `block`.
#ifdef __CUDACC__
__host__ __device__
#endif
    inline int64_t
    q8_row(const DevicePool &pool, int64_t block, int32_t value, int32_t r) {
    return ((block - pool.first_q8) * 2 + value) * pool.block_size + r;
}

// One stream (sequence, layer, kv head): slot s lives in pool block blocks[s / block_size] at row
// s % block_size. `blocks` is device memory; `length` counts the slots after this step. `id`
// and `epoch` name the stream's deferred decode scores (attention/pending.h): its record in the
// pool's records, and the stream's generation (a record of another is stale); id < 0: none.
// `q8_length`: slots in 8-bit blocks, which come first (StreamRef::q8_length); decode balances
// its splits by it, and reads each block's type from the pool.
struct DeviceStream {
    const int32_t *blocks = nullptr;
    int32_t length = 0;
    int32_t id = -1;
    uint32_t epoch = 0;
    int32_t q8_length = 0;
};

// Address of score kind `kind` of slot `slot` of a stream (host or device code).
#ifdef __CUDACC__
__host__ __device__
#endif
    inline float *
    score_at(const DevicePool &pool, const int32_t *blocks, int32_t kind, int32_t slot) {
    const int32_t b = blocks[slot / pool.block_size];
    return pool.scores + (static_cast<int64_t>(b) * kScoreKinds + kind) * pool.block_size +
           slot % pool.block_size;
}

}  // namespace cab::cuda
