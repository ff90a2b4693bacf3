// Host API of the elementwise kernels between ops: the residual add, bias adds and bf16/f32
// conversions. Plain C++ over device pointers; asynchronous on `stream`. fp32 math, one
// round-to-nearest-even per bf16 output. n == 0 (or rows == 0) launches nothing. Bad arguments
// throw cab::Error(INVALID_ARGUMENT), a failed launch cab::Error(DEVICE).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace cab::cuda::elementwise {

// x[i] += y[i]: x f32 (the residual stream), y bf16, n elements.
void add_to_f32(float *x, const void *y_bf16, int64_t n, cudaStream_t stream);

// y[r][c] += bias[c]: y bf16 [rows][cols], bias f32 [cols].
void add_bias(void *y_bf16, const float *bias, int32_t rows, int32_t cols, cudaStream_t stream);

// y[r][c] += bias[c]: y f32 [rows][cols], bias f32 [cols].
void add_bias_f32(float *y, const float *bias, int32_t rows, int32_t cols, cudaStream_t stream);

// y[r][c] = bf16(sum[r][c] + bias[c]): sum f32 [rows][cols] (an fp32 product), y bf16, one
// rounding.
void add_bias_round(const float *sum, const float *bias, void *y_bf16, int32_t rows, int32_t cols,
                    cudaStream_t stream);

// y[i] = bf16(x[i]) over n elements.
void f32_to_bf16(const float *x, void *y, int64_t n, cudaStream_t stream);

// y[i] = f32(x[i]) over n elements (exact).
void bf16_to_f32(const void *x, float *y, int64_t n, cudaStream_t stream);

}  // namespace cab::cuda::elementwise
