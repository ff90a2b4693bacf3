// Host API of the attention kernels (DESIGN.md sections 4 and 6): causal GQA prefill and split-K
// decode over the paged bf16 KV pool, with optional fused score accumulation. Plain C++ over
// device pointers, so the CUDA backend's C++ code calls it without CUDA syntax. Every call is
// asynchronous on `stream`; bad arguments throw cab::Error(INVALID_ARGUMENT / UNSUPPORTED), a
// failed launch cab::Error(DEVICE) with the CUDA message.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace cab::cuda::attention {

// Per-slot fp32 accumulators of one stream in device memory, as ScoreRef (backend/backend.h)
// defines them: score += P summed over queries and the GQA group's heads, observers += queries
// that see the slot, window = P summed over a prefill chunk's last W queries, last = P of the
// step's last query.
struct DeviceScores {
    float *score = nullptr;
    float *observers = nullptr;
    float *window = nullptr;
    float *last = nullptr;
};

// One stream (sequence, layer, kv head): slot s lives in pool block blocks[s / block_size] at row
// s % block_size. `blocks` is device memory; `length` counts the slots after this step.
struct DeviceStream {
    const int32_t *blocks = nullptr;
    int32_t length = 0;
    DeviceScores scores;
};

// The bf16 KV pool (layout of KvPoolRef): block b holds K[block_size][head_dim] followed by
// V[block_size][head_dim]. block_size is a power of two; head_dim 64 or 128.
struct DevicePool {
    const void *data = nullptr;
    int32_t block_size = 16;
    int32_t head_dim = 0;
};

// Causal attention of one prefill chunk of one sequence. Its n queries are the last n slots of
// every stream (already appended): query i of a stream of length len sees slots
// [0, len - n + i]. Query head h reads kv head h / (n_head / n_head_kv).
struct PrefillArgs {
    DevicePool pool;
    const DeviceStream *streams = nullptr;  // device array [n_head_kv]
    int32_t n_head_kv = 0;
    int32_t n_head = 0;
    int32_t n = 0;
    int32_t max_length = 0;  // the longest stream (sizes the score preparation grid)
    // bf16 [n][q_stride], head h at column h * head_dim; strides are multiples of 8 elements.
    const void *q = nullptr;
    int64_t q_stride = 0;
    void *out = nullptr;  // bf16 [n][out_stride], same layout as q
    int64_t out_stride = 0;
    // Accumulate scores into every stream's DeviceScores; score_window > 0 recomputes `window`
    // from the last min(score_window, n) queries, 0 leaves it.
    bool scores = false;
    int32_t score_window = 0;
};

void prefill(const PrefillArgs &args, cudaStream_t stream);

// One query per sequence over all of its slots: row s of q (heads of kv head g together) reads
// streams[s * n_head_kv + g]. Split-K over the keys, then a log-sum-exp merge.
struct DecodeArgs {
    DevicePool pool;
    const DeviceStream *streams = nullptr;  // device array [batch * n_head_kv], sequence-major
    int32_t batch = 0;
    int32_t n_head_kv = 0;
    int32_t n_head = 0;       // n_head / n_head_kv <= 16
    int32_t max_length = 0;   // the longest stream; every stream holds at least one slot
    const void *q = nullptr;  // bf16 [batch][q_stride], strides multiples of 8 as for prefill
    int64_t q_stride = 0;
    void *out = nullptr;  // bf16 [batch][out_stride]
    int64_t out_stride = 0;
    bool scores = false;        // score/observers/last as for prefill; window untouched
    int32_t splits = 0;         // splits of the longest stream; 0 lets decode_num_splits choose
    void *workspace = nullptr;  // device memory of decode_workspace_bytes(args)
    size_t workspace_bytes = 0;
};

// How decode divides its work: `splits` chunks of `chunk` keys for the longest stream.
struct DecodePlan {
    int32_t splits = 1;
    int32_t chunk = 0;
    size_t workspace_bytes = 0;
};

// The plan decode() will use for these arguments on the current device (workspace unused).
DecodePlan plan_decode(const DecodeArgs &args);

void decode(const DecodeArgs &args, cudaStream_t stream);

}  // namespace cab::cuda::attention
