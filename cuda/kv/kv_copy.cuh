// Host API of the block copy kernel: whole blocks of the paged KV pool copied to other blocks
// (K, V and the four score kinds), what copying a sequence (cab_seq_copy) does to every stream.
// Plain C++ over device pointers; asynchronous on `stream`. Bad arguments throw
// cab::Error(INVALID_ARGUMENT), a failed launch cab::Error(DEVICE).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kv/paged.h"

namespace cab::cuda::kv {

// Copies block src[i] to block dst[i] for i < n, in one launch: its K and V rows (bf16) and,
// when pool.scores is set, its score rows. src and dst are device int32 arrays of n block ids
// of the pool, 2n distinct ones (the caller checks: a block both read and written, or written
// twice, would race).
void copy_blocks(const DevicePool &pool, const int32_t *src, const int32_t *dst, int32_t n,
                 cudaStream_t stream);

}  // namespace cab::cuda::kv
