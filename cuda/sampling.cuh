// Host API of the sampling kernels. Plain C++ over device pointers; asynchronous on `stream`.
// Bad arguments throw cab::Error(INVALID_ARGUMENT), a failed launch cab::Error(DEVICE).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace cab::cuda::sampling {

// out[r] = the index of the largest of logits[r][0, vocab) (f32, rows `stride` floats apart):
// the lowest such index on ties, NaN counted as -inf and -0 as +0 (a row of NaN and -inf gives 0).
// One kernel launch (a cluster of CTAs per row, sm_90) that keeps no state between calls, so it
// may be captured in a CUDA graph and replayed. rows <= INT32_MAX / 8.
void argmax(const float *logits, int64_t stride, int32_t rows, int32_t vocab, int32_t *out,
            cudaStream_t stream);

}  // namespace cab::cuda::sampling
