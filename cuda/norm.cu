// RMSNorm kernels: one block per row, the sum of squares reduced in fp32 through warp shuffles.
#include <cuda_bf16.h>

#include <string>

#include "attention/launch.h"
#include "norm.cuh"
#include "util/error.h"

namespace cab::cuda::norm {
namespace {

constexpr int kThreads = 256;

__device__ float load(const float *p, int64_t i) {
    return p[i];
}
__device__ float load(const __nv_bfloat16 *p, int64_t i) {
    return __bfloat162float(p[i]);
}

// Sum over the block; every thread gets the total.
__device__ float block_sum(float v) {
    __shared__ float partial[kThreads / 32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
    __syncthreads();
    float total = 0.0f;
    for (int i = 0; i < kThreads / 32; ++i) total += partial[i];
    return total;
}

template <class In>
__global__ void rmsnorm_kernel(const In *x, const float *w, __nv_bfloat16 *y, int cols, float eps) {
    const int64_t row = static_cast<int64_t>(blockIdx.x) * cols;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < cols; i += kThreads) {
        const float v = load(x, row + i);
        ss += v * v;
    }
    const float scale = rsqrtf(block_sum(ss) / static_cast<float>(cols) + eps);
    for (int i = threadIdx.x; i < cols; i += kThreads)
        y[row + i] = __float2bfloat16(load(x, row + i) * scale * w[i]);
}

void check_args(const void *x, const float *w, const void *y, int32_t rows, int32_t cols, float eps,
                const char *name) {
    std::string n(name);
    require(rows >= 0, CAB_ERR_INVALID_ARGUMENT, n + ": rows " + std::to_string(rows) + " < 0");
    require(cols > 0, CAB_ERR_INVALID_ARGUMENT, n + ": cols " + std::to_string(cols) + " <= 0");
    require(eps >= 0.0f, CAB_ERR_INVALID_ARGUMENT, n + ": eps < 0");
    require(rows == 0 || (x && w && y), CAB_ERR_INVALID_ARGUMENT, n + ": null x, w or y");
}

}  // namespace

void rmsnorm_bf16(const void *x, const float *w, void *y, int32_t rows, int32_t cols, float eps,
                  cudaStream_t stream) {
    check_args(x, w, y, rows, cols, eps, "rmsnorm_bf16");
    if (rows == 0) return;
    rmsnorm_kernel<<<rows, kThreads, 0, stream>>>(static_cast<const __nv_bfloat16 *>(x), w,
                                                  static_cast<__nv_bfloat16 *>(y), cols, eps);
    attention::check_launch("rmsnorm_bf16");
}

void rmsnorm_f32(const float *x, const float *w, void *y, int32_t rows, int32_t cols, float eps,
                 cudaStream_t stream) {
    check_args(x, w, y, rows, cols, eps, "rmsnorm_f32");
    if (rows == 0) return;
    rmsnorm_kernel<<<rows, kThreads, 0, stream>>>(x, w, static_cast<__nv_bfloat16 *>(y), cols, eps);
    attention::check_launch("rmsnorm_f32");
}

}  // namespace cab::cuda::norm
