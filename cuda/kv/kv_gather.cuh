// Host API of the KV read-out kernels: a stream's keys, values or scores as dense f32 rows, or
// its keys' means over runs of slots, for the policies that read them. Plain C++ over device
// pointers; asynchronous on `stream`. Bad arguments throw cab::Error(INVALID_ARGUMENT), a failed
// launch cab::Error(DEVICE).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kv/paged.h"

namespace cab::cuda::kv {

// Keys (values == false) or values of slots [0, length) of the stream with device block table
// `blocks`, as f32 [length][pool.head_dim] into out (device).
void gather_rows(const DevicePool &pool, const int32_t *blocks, int32_t length, bool values,
                 float *out, cudaStream_t stream);

// The four score kinds of slots [0, length) as f32 [kScoreKinds][length] (kind-major) into out
// (device). pool.scores must be set.
void gather_scores(const DevicePool &pool, const int32_t *blocks, int32_t length, float *out,
                   cudaStream_t stream);

// Score kind `kind` (0 .. kScoreKinds - 1) of slots [0, length) as f32 [length] into out
// (device). pool.scores must be set.
void gather_score_kind(const DevicePool &pool, const int32_t *blocks, int32_t length, int32_t kind,
                       float *out, cudaStream_t stream);

// One stream of key_means: its device block table and slots, the run length, and where its
// [ceil(length / run)][pool.head_dim] means go (device).
struct KeyMeansJob {
    const int32_t *blocks = nullptr;
    int32_t length = 0;
    int32_t run = 1;
    float *out = nullptr;
};

// The mean key of each run of `run` consecutive slots of every job's stream, as
// policy/key_means.h defines it bit for bit (the f32 sum in slot order from 0, divided by the
// run's length; 8-bit rows dequantized as gather_rows does). jobs: a device array; max_units:
// the most floats one job writes.
void key_means(const DevicePool &pool, const KeyMeansJob *jobs, int32_t n_jobs, int64_t max_units,
               cudaStream_t stream);

}  // namespace cab::cuda::kv
