// Host API of the attention kernels (DESIGN.md sections 4 and 6): causal GQA prefill and split-K
// decode over the paged bf16 (and int8) KV pool, with optional fused score accumulation into the
// pool's paged score accumulators (kv/paged.h). Plain C++ over device pointers, so the CUDA
// backend's C++ code calls it without CUDA syntax. Every call is asynchronous on `stream`; bad
// arguments throw cab::Error(INVALID_ARGUMENT / UNSUPPORTED), a failed launch cab::Error(DEVICE)
// with the CUDA message. head_dim 64 and 128 run the tensor-core kernels; any other head_dim in [1,
// 256] runs the CUDA-core kernels of generic.h.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "attention/pending.h"
#include "kv/paged.h"

namespace cab::cuda::attention {

using cuda::DevicePool;
using cuda::DeviceStream;

// Which tensor-core kernel runs head_dim 64 and 128: Auto takes the Hopper one (prefill: wgmma;
// decode over bf16 blocks: tensor copies) on an sm_90 device when the build has sm_90a code,
// else the mma.sync one; the others force one (Sm90 where it cannot run is
// CAB_ERR_UNSUPPORTED). Same results either way.
enum class Kernel { Auto, Sm80, Sm90 };

// Whether the Hopper kernels can run on the current device.
bool sm90_available();

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
    // bf16 [n][q_stride], head h at column h * head_dim; for head_dim 64 and 128 the strides are
    // multiples of 8 elements.
    const void *q = nullptr;
    int64_t q_stride = 0;
    void *out = nullptr;  // bf16 [n][out_stride], same layout as q
    int64_t out_stride = 0;
    // Accumulate scores (ScoreKind in backend/backend.h) into pool.scores, which must then be
    // non-null; score_window > 0 recomputes `window` from the last min(score_window, n) queries,
    // 0 leaves it.
    bool scores = false;
    int32_t score_window = 0;
    Kernel kernel = Kernel::Auto;  // see Kernel
    // Rows of a CTA of the Hopper kernel at head_dim 64: 0 picks one (192 where that grid has
    // 1.5 CTAs per SM, else 64 where that grid has at most 3, else 128), 64, 128 or 192 force it
    // (tests, benchmarks). Head_dim 128 takes 0 or 128. Same results either way.
    int32_t sm90_cta_rows = 0;
    // Some stream holds int8 blocks (DevicePool::q8): the CUDA-core kernels of generic.h run,
    // which read them (the tensor-core ones read bf16 tiles only). Prefill over quantized
    // history is the rare case (a turn after cab_evict's "quantize"); decode reads int8 on
    // tensor cores.
    bool int8_blocks = false;
};

void prefill(const PrefillArgs &args, cudaStream_t stream);

// One query per sequence over all of its slots: row s of q (heads of kv head g together) reads
// streams[s * n_head_kv + g]. Split-K over the keys, then a log-sum-exp merge.
//
// CUDA graphs: the launches (grids, kernels, workspace layout) depend only on these arguments,
// pointers included, never on the lengths or block tables in device memory. So a decode captured
// once can be replayed while those (and the contents of q) change, as long as every stream stays
// within max_length. max_length may therefore over-estimate (a capture per length bucket, e.g.
// the next power of two, with fixed splits): splits and merge CTAs past a stream's end exit at
// once and the merge counts only the splits that hold keys, so outputs and scores are those of
// the real lengths. The cost: the workspace is sized for max_length, and so is the plan's
// chunk (keys per split): a stream of length L runs on ceil(L / chunk) splits (for a
// power-of-two bucket at least half of the plan's), less parallelism than a plan for L when the
// batch is small. (A pool with 8-bit blocks shares the keys out by bytes instead, its bf16 keys
// counting twice: splits.cuh.) Slots past max_length are never read or written (a caller error:
// they are left out of the attention). A stream may be empty (a padding entry of a batch bucket):
// its output rows are zeros.
struct DecodeArgs {
    DevicePool pool;
    const DeviceStream *streams = nullptr;  // device array [batch * n_head_kv], sequence-major
    int32_t batch = 0;
    int32_t n_head_kv = 0;
    int32_t n_head = 0;       // n_head / n_head_kv <= 16 for head_dim 64 and 128
    int32_t max_length = 0;   // at least every stream's length (see above), at least 1
    const void *q = nullptr;  // bf16 [batch][q_stride], strides as for prefill
    int64_t q_stride = 0;
    void *out = nullptr;  // bf16 [batch][out_stride]
    int64_t out_stride = 0;
    // score/observers/last as for prefill; window untouched. With `pending` records (and at most
    // kPendingMaxGroup heads per kv head) they are deferred: this step's query is left in
    // record streams[i].id (pending.h), and applied, exactly, by the next decode over that
    // stream, or by settle(); the previous query pending there (same epoch) is applied now. A
    // stream's scores are therefore current only after settle(). Without records, or with larger
    // groups, each call applies its own (a second pass over K).
    bool scores = false;
    void *pending = nullptr;  // records [ids][pending_record_bytes], zeroed before first use
    size_t pending_record_bytes = 0;
    int32_t splits = 0;         // splits of max_length keys; 0 lets decode_num_splits choose
    void *workspace = nullptr;  // device memory of plan_decode(args).workspace_bytes
    size_t workspace_bytes = 0;
    // Launch with programmatic stream serialization (head_dim 64 and 128): the kernel then
    // starts while the previous one finishes and reads, before waiting for it, only the stream
    // tables and the keys before each stream's last slot, which that kernel must not write (a
    // decode step: the previous kernel appends the last slot). No copy may come between the two.
    // The plan depends on it (heuristics.h: decode_num_splits_sm90).
    bool pdl = false;
    // See Kernel. The Hopper kernel reads bf16 blocks only (a pool with 8-bit blocks runs the
    // mma.sync one: Sm90 is then CAB_ERR_UNSUPPORTED) of at least 4 keys.
    Kernel kernel = Kernel::Auto;
};

// How decode divides its work: `splits` chunks of `chunk` keys cover max_length (a pool with
// 8-bit blocks may get one split more, for a bf16 tail: splits.cuh). The generic kernel (other head
// sizes) does not split and needs no workspace.
struct DecodePlan {
    int32_t splits = 1;
    int32_t chunk = 0;
    size_t workspace_bytes = 0;
};

// The plan decode() will use for these arguments on the current device (workspace unused).
DecodePlan plan_decode(const DecodeArgs &args);

void decode(const DecodeArgs &args, cudaStream_t stream);

// Bytes of one stream's pending record for decode with `group` query heads per kv head, or 0 when
// decode keeps none (head sizes of the generic kernel, groups above kPendingMaxGroup).
inline size_t pending_record_bytes(int group, int head_dim) {
    const bool tensor_cores = head_dim == 64 || head_dim == 128;
    return tensor_cores && group >= 1 && group <= kPendingMaxGroup
               ? pending_record_size(group, head_dim)
               : 0;
}

// Applies the pending decode scores of streams[0..count) (device array, distinct ids) to the
// slots before their last n_new ones (appended since), and marks them applied. Streams with
// nothing pending (or a stale epoch, or id < 0) are left alone.
struct SettleArgs {
    DevicePool pool;
    const DeviceStream *streams = nullptr;
    int32_t count = 0;
    int32_t n_new = 0;
    int32_t max_length = 0;  // at least every stream's length
    int32_t group = 0;       // query heads per kv head, as for the decode that left the records
    void *pending = nullptr;
};

void settle(const SettleArgs &args, cudaStream_t stream);

}  // namespace cab::cuda::attention
