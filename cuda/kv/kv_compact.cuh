// Host API of KV compaction (DESIGN.md section 3): a stream's kept slots move to its front, order
// preserved, with their K, V and (when pool.scores is set) their four score kinds. Slots past
// n_keep and every other block are left as they are; the caller then frees the tail blocks.
// A slot can be both a source and a destination, so the kept slots are first gathered into a
// scratch buffer and then written back (two kernels, ordered on `stream`). Plain C++ over device
// pointers; asynchronous on `stream`. Bad arguments throw cab::Error(INVALID_ARGUMENT), a failed
// launch cab::Error(DEVICE).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kv/paged.h"

namespace cab::cuda::kv {

// Scratch bytes compact() needs for n_keep slots (a multiple of 16).
size_t compact_scratch_bytes(const DevicePool &pool, int32_t n_keep);

// Moves slots keep[0..n_keep) of one stream to slots [0, n_keep). blocks: the stream's device
// block table; keep: device int32, strictly increasing, each below the stream's length; scratch:
// device memory of compact_scratch_bytes(pool, n_keep) bytes, not used by anything else until
// the call's work on `stream` completes.
void compact(const DevicePool &pool, const int32_t *blocks, const int32_t *keep, int32_t n_keep,
             void *scratch, cudaStream_t stream);

// One stream of a batched compaction; blocks and keep are device pointers as for compact().
// scratch_offset: where the job's scratch starts, in bytes, as plan_compact_batch sets it.
struct CompactJob {
    const int32_t *blocks = nullptr;
    const int32_t *keep = nullptr;
    int32_t n_keep = 0;
    int64_t scratch_offset = 0;
};

// Total scratch bytes of a batch whose jobs keep n_keep[0..n_jobs) slots (host array).
size_t compact_batch_scratch_bytes(const DevicePool &pool, const int32_t *n_keep, int32_t n_jobs);

// Sets jobs_host[i].scratch_offset from the n_keep of the jobs before it, so that the batch's
// scratch is compact_batch_scratch_bytes bytes.
void plan_compact_batch(const DevicePool &pool, CompactJob *jobs_host, int32_t n_jobs);

// compact() for n_jobs streams at once (e.g. every stream of a sequence), one launch per phase.
// jobs: device array [n_jobs] of planned jobs, on pairwise distinct streams; max_keep: the
// largest n_keep among them (sizes the grid); scratch: compact_batch_scratch_bytes bytes.
void compact_batch(const DevicePool &pool, const CompactJob *jobs, int32_t n_jobs, int32_t max_keep,
                   void *scratch, cudaStream_t stream);

}  // namespace cab::cuda::kv
