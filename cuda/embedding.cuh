// Host API of the embedding kernel. Plain C++ over device pointers; asynchronous on `stream`.
// Bad arguments throw cab::Error(INVALID_ARGUMENT), a failed launch cab::Error(DEVICE).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace cab::cuda::embedding {

// out[i][:] = table[tokens[i]][:] as f32 for i < rows. table bf16 [vocab][cols]; tokens device
// int32 [rows], already validated against the vocabulary; out f32 [rows][cols].
void gather(const void *table, const int32_t *tokens, float *out, int32_t rows, int32_t cols,
            cudaStream_t stream);

}  // namespace cab::cuda::embedding
