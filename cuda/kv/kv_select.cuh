// Host API of the keep-plan selection kernel (policy/keep_plan.h): for each job, the slots a
// KeepPlan keeps over the summed scores of the job's streams, computed where the scores live and
// equal to apply_keep_plan bit for bit. The kept slots go to device memory, ascending, ready for
// kv::compact_batch and one copy to the host. Plain C++ over device pointers; asynchronous on
// `stream`. Bad arguments throw cab::Error(INVALID_ARGUMENT), a failed launch cab::Error(DEVICE).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kv/paged.h"

namespace cab::cuda::kv {

// One selection unit on the device: its plan over a stream of `length` slots, as KeepPlan states
// it (the caller has checked it with keep_count), and where its inputs and outputs live.
struct SelectJob {
    // Device array of the unit's streams, each at least `length` long; read only when the plan
    // ranks (0 < k + bridges < the slots between the kept ends).
    const DeviceStream *streams = nullptr;
    int32_t n_streams = 0;
    int32_t length = 0;
    int32_t keep_front = 0;
    int32_t keep_back = 0;
    int32_t k = 0;
    int32_t kind = 0;  // the ranked score kind: 0 score, 2 window, 3 last (see ScoreKind)
    int32_t per_observer = 0;
    int32_t pool_kernel = 1;
    int32_t pool_shift = 0;  // 0 .. pool_kernel / 2: the window sits this many slots back
    int32_t chunk = 1;       // > 1: chunk sums instead of pooling (never both)
    int32_t bridges = 0;     // slots closest to the median of what the top k leave (KeepPlan)
    // Device output of keep_front + keep_back + k + bridges slots, ascending.
    int32_t *keep = nullptr;
    // Device scratch of select_work_bytes() bytes, 16-byte aligned, used by no other job.
    void *work = nullptr;
};

// Scratch bytes a job of this plan needs (a multiple of 16; 0 when it ranks nothing).
size_t select_work_bytes(int32_t length, int32_t keep_front, int32_t keep_back, int32_t k,
                         int32_t bridges, int32_t pool_kernel, int32_t pool_shift, int32_t chunk);

// Runs jobs[0..n_jobs) (a device array), one thread block each. pool.scores must be set when
// any job ranks.
void select(const DevicePool &pool, const SelectJob *jobs, int32_t n_jobs, cudaStream_t stream);

}  // namespace cab::cuda::kv
