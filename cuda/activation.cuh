// Host API of the activation kernels. Plain C++ over device pointers; asynchronous on `stream`.
// Bad arguments throw cab::Error(INVALID_ARGUMENT), a failed launch cab::Error(DEVICE).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace cab::cuda::activation {

// out[i] = silu(gate[i]) * up[i] over n bf16 elements, fp32 math; out may alias gate or up.
void swiglu(const void *gate, const void *up, void *out, int64_t n, cudaStream_t stream);

// The same over [rows][cols] bf16 matrices whose rows are gate_stride, up_stride and out_stride
// elements apart (each >= cols): gate and up may be column views of one fused gate/up product.
// out may alias gate or up (the same elements, the same stride).
void swiglu_rows(const void *gate, const void *up, void *out, int64_t rows, int64_t cols,
                 int64_t gate_stride, int64_t up_stride, int64_t out_stride, cudaStream_t stream);

}  // namespace cab::cuda::activation
