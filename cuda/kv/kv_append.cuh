// Host API of the KV append kernel (DESIGN.md section 3). Plain C++ over device pointers;
// asynchronous on `stream`. Bad arguments throw cab::Error(INVALID_ARGUMENT), a failed launch
// cab::Error(DEVICE).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kv/paged.h"

namespace cab::cuda::kv {

// Writes the K/V rows of a step into their streams. k and v are bf16
// [n_seqs * rows_per_seq][n_head_kv * pool.head_dim] whose rows are kv_stride elements apart
// (>= n_head_kv * head_dim: column views of a fused QKV product); streams is a device array
// [n_seqs * n_head_kv], sequence-major, whose lengths already count the appended rows (each at
// least rows_per_seq). Row r of sequence s, head h goes to slot length - rows_per_seq + r of
// streams[s * n_head_kv + h]: its K into the block's K half, its V into the V half. When
// pool.scores is set, the four score kinds of every appended slot become 0.
void append(const DevicePool &pool, const DeviceStream *streams, int32_t n_seqs, int32_t n_head_kv,
            int32_t rows_per_seq, const void *k, const void *v, int64_t kv_stride,
            cudaStream_t stream);

}  // namespace cab::cuda::kv
