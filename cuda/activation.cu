// SwiGLU: an elementwise kernel over rows of possibly strided matrices (memory bound; one bf16 of
// each input per thread). The x dimension of the grid strides over a row's columns, y over rows.
#include <cuda_bf16.h>

#include <algorithm>
#include <string>

#include "activation.cuh"
#include "attention/launch.h"
#include "util/error.h"

namespace cab::cuda::activation {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocksX = 65536;
constexpr int64_t kMaxBlocksY = 65535;  // gridDim.y's limit

__global__ void swiglu_kernel(const __nv_bfloat16 *gate, const __nv_bfloat16 *up,
                              __nv_bfloat16 *out, int64_t rows, int64_t cols, int64_t gate_stride,
                              int64_t up_stride, int64_t out_stride) {
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        const __nv_bfloat16 *g_row = gate + r * gate_stride, *u_row = up + r * up_stride;
        __nv_bfloat16 *o_row = out + r * out_stride;
        for (int64_t c = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; c < cols;
             c += static_cast<int64_t>(gridDim.x) * kThreads) {
            const float g = __bfloat162float(g_row[c]), u = __bfloat162float(u_row[c]);
            o_row[c] = __float2bfloat16(g / (1.0f + expf(-g)) * u);
        }
    }
}

}  // namespace

void swiglu_rows(const void *gate, const void *up, void *out, int64_t rows, int64_t cols,
                 int64_t gate_stride, int64_t up_stride, int64_t out_stride, cudaStream_t stream) {
    require(rows >= 0 && cols >= 0, CAB_ERR_INVALID_ARGUMENT,
            "swiglu: rows " + std::to_string(rows) + " or cols " + std::to_string(cols) + " < 0");
    require(
        gate_stride >= cols && up_stride >= cols && out_stride >= cols, CAB_ERR_INVALID_ARGUMENT,
        "swiglu: strides " + std::to_string(gate_stride) + ", " + std::to_string(up_stride) + ", " +
            std::to_string(out_stride) + " shorter than a row of " + std::to_string(cols));
    if (rows == 0 || cols == 0) return;
    require(gate && up && out, CAB_ERR_INVALID_ARGUMENT, "swiglu: null gate, up or out");
    const dim3 grid(
        static_cast<unsigned>(std::min<int64_t>((cols + kThreads - 1) / kThreads, kMaxBlocksX)),
        static_cast<unsigned>(std::min(rows, kMaxBlocksY)));
    swiglu_kernel<<<grid, kThreads, 0, stream>>>(
        static_cast<const __nv_bfloat16 *>(gate), static_cast<const __nv_bfloat16 *>(up),
        static_cast<__nv_bfloat16 *>(out), rows, cols, gate_stride, up_stride, out_stride);
    attention::check_launch("swiglu");
}

void swiglu(const void *gate, const void *up, void *out, int64_t n, cudaStream_t stream) {
    require(n >= 0, CAB_ERR_INVALID_ARGUMENT, "swiglu: n " + std::to_string(n) + " < 0");
    swiglu_rows(gate, up, out, 1, n, n, n, n, stream);
}

}  // namespace cab::cuda::activation
