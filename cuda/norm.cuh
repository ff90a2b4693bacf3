// Host API of the RMSNorm kernels: y = x * rsqrt(mean(x^2) + eps) * w per row, fp32 math, fp32
// weight, bf16 output. Plain C++ over device pointers; asynchronous on `stream`. Bad arguments
// throw cab::Error(INVALID_ARGUMENT), a failed launch cab::Error(DEVICE).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace cab::cuda::norm {

// x bf16 [rows][cols] -> y bf16 [rows][cols].
void rmsnorm_bf16(const void *x, const float *w, void *y, int32_t rows, int32_t cols, float eps,
                  cudaStream_t stream);

// x f32 [rows][cols] (the residual stream) -> y bf16 [rows][cols].
void rmsnorm_f32(const float *x, const float *w, void *y, int32_t rows, int32_t cols, float eps,
                 cudaStream_t stream);

}  // namespace cab::cuda::norm
