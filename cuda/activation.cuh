// Host API of the activation kernels. Plain C++ over device pointers; asynchronous on `stream`.
// Bad arguments throw cab::Error(INVALID_ARGUMENT), a failed launch cab::Error(DEVICE).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace cab::cuda::activation {

// out[i] = silu(gate[i]) * up[i] over n bf16 elements, fp32 math; out may alias gate or up.
void swiglu(const void *gate, const void *up, void *out, int64_t n, cudaStream_t stream);

}  // namespace cab::cuda::activation
