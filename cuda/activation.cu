// SwiGLU: a grid-stride elementwise kernel (memory bound; one bf16 of each input per thread).
#include <cuda_bf16.h>

#include <algorithm>
#include <string>

#include "activation.cuh"
#include "attention/launch.h"
#include "util/error.h"

namespace cab::cuda::activation {
namespace {

constexpr int kThreads = 256;

__global__ void swiglu_kernel(const __nv_bfloat16 *gate, const __nv_bfloat16 *up,
                              __nv_bfloat16 *out, int64_t n) {
    for (int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * kThreads) {
        float g = __bfloat162float(gate[i]), u = __bfloat162float(up[i]);
        out[i] = __float2bfloat16(g / (1.0f + expf(-g)) * u);
    }
}

}  // namespace

void swiglu(const void *gate, const void *up, void *out, int64_t n, cudaStream_t stream) {
    require(n >= 0, CAB_ERR_INVALID_ARGUMENT, "swiglu: n " + std::to_string(n) + " < 0");
    require(n == 0 || (gate && up && out), CAB_ERR_INVALID_ARGUMENT,
            "swiglu: null gate, up or out");
    if (n == 0) return;
    const int64_t blocks = std::min<int64_t>((n + kThreads - 1) / kThreads, 65536);
    swiglu_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        static_cast<const __nv_bfloat16 *>(gate), static_cast<const __nv_bfloat16 *>(up),
        static_cast<__nv_bfloat16 *>(out), n);
    attention::check_launch("swiglu");
}

}  // namespace cab::cuda::activation
