// Elementwise kernels: grid-stride loops over chunks of 8 elements (16-byte bf16 / 2x16-byte f32
// accesses) when every pointer is 16-byte aligned, then a scalar tail; a scalar loop otherwise.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "attention/launch.h"
#include "elementwise.cuh"
#include "util/error.h"

namespace cab::cuda::elementwise {
namespace {

using bf16 = __nv_bfloat16;

constexpr int kThreads = 256;
constexpr int kVec = 8;
constexpr int64_t kMaxBlocks = 65536;

__device__ __forceinline__ void load8(const float *p, float (&f)[kVec]) {
    const float4 a = reinterpret_cast<const float4 *>(p)[0];
    const float4 b = reinterpret_cast<const float4 *>(p)[1];
    f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w, f[4] = b.x, f[5] = b.y, f[6] = b.z, f[7] = b.w;
}
__device__ __forceinline__ void load8(const bf16 *p, float (&f)[kVec]) {
    const uint4 raw = *reinterpret_cast<const uint4 *>(p);
    const __nv_bfloat162 *h = reinterpret_cast<const __nv_bfloat162 *>(&raw);
#pragma unroll
    for (int i = 0; i < kVec / 2; ++i) {
        const float2 t = __bfloat1622float2(h[i]);
        f[2 * i] = t.x, f[2 * i + 1] = t.y;
    }
}
__device__ __forceinline__ void store8(float *p, const float (&f)[kVec]) {
    reinterpret_cast<float4 *>(p)[0] = make_float4(f[0], f[1], f[2], f[3]);
    reinterpret_cast<float4 *>(p)[1] = make_float4(f[4], f[5], f[6], f[7]);
}
__device__ __forceinline__ void store8(bf16 *p, const float (&f)[kVec]) {
    uint4 raw;
    __nv_bfloat162 *h = reinterpret_cast<__nv_bfloat162 *>(&raw);
#pragma unroll
    for (int i = 0; i < kVec / 2; ++i) h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
    *reinterpret_cast<uint4 *>(p) = raw;
}

__device__ __forceinline__ float load1(const float *p) {
    return *p;
}
__device__ __forceinline__ float load1(const bf16 *p) {
    return __bfloat162float(*p);
}
__device__ __forceinline__ void store1(float *p, float f) {
    *p = f;
}
__device__ __forceinline__ void store1(bf16 *p, float f) {
    *p = __float2bfloat16_rn(f);
}

// y[i] = convert(x[i]).
template <class In, class Out, bool kVector>
__global__ void convert_kernel(const In *x, Out *y, int64_t n) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
    const int64_t first = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    const int64_t n_vec = kVector ? n / kVec : 0;
    for (int64_t c = first; c < n_vec; c += stride) {
        float f[kVec];
        load8(x + c * kVec, f);
        store8(y + c * kVec, f);
    }
    for (int64_t i = n_vec * kVec + first; i < n; i += stride) store1(y + i, load1(x + i));
}

// x[i] += y[i].
template <bool kVector>
__global__ void add_kernel(float *x, const bf16 *y, int64_t n) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
    const int64_t first = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    const int64_t n_vec = kVector ? n / kVec : 0;
    for (int64_t c = first; c < n_vec; c += stride) {
        float a[kVec], b[kVec];
        load8(x + c * kVec, a);
        load8(y + c * kVec, b);
#pragma unroll
        for (int j = 0; j < kVec; ++j) a[j] += b[j];
        store8(x + c * kVec, a);
    }
    for (int64_t i = n_vec * kVec + first; i < n; i += stride) x[i] += load1(y + i);
}

// y[r][c] += bias[c] over n = rows * cols elements; the vector path needs cols % kVec == 0, so
// a chunk never straddles two rows and there is no tail.
template <class T, bool kVector>
__global__ void bias_kernel(T *y, const float *bias, int64_t n, int32_t cols) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
    const int64_t first = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    if constexpr (kVector) {
        for (int64_t c = first; c < n / kVec; c += stride) {
            const int64_t i = c * kVec;
            float a[kVec], b[kVec];
            load8(y + i, a);
            load8(bias + i % cols, b);
#pragma unroll
            for (int j = 0; j < kVec; ++j) a[j] += b[j];
            store8(y + i, a);
        }
    } else {
        for (int64_t i = first; i < n; i += stride) store1(y + i, load1(y + i) + bias[i % cols]);
    }
}

// y[i] = bf16(sum[i] + bias[i % cols]): a product kept in fp32 gets its bias before the one
// rounding to bf16.
__global__ void bias_round_kernel(const float *sum, const float *bias, bf16 *y, int64_t n,
                                  int32_t cols) {
    const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += stride)
        y[i] = __float2bfloat16_rn(sum[i] + bias[i % cols]);
}

bool aligned16(const void *p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// Blocks for `units` work items (vector chunks or elements) of a grid-stride kernel.
unsigned grid_for(int64_t units) {
    return static_cast<unsigned>(
        std::clamp<int64_t>((units + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

void check_n(int64_t n, const void *a, const void *b, const std::string &name) {
    require(n >= 0, CAB_ERR_INVALID_ARGUMENT, name + ": n " + std::to_string(n) + " < 0");
    require(n == 0 || (a && b), CAB_ERR_INVALID_ARGUMENT, name + ": null input or output");
}

void check_bias(const void *y, const float *bias, int32_t rows, int32_t cols,
                const std::string &name) {
    require(rows >= 0, CAB_ERR_INVALID_ARGUMENT, name + ": rows " + std::to_string(rows) + " < 0");
    require(cols > 0, CAB_ERR_INVALID_ARGUMENT, name + ": cols " + std::to_string(cols) + " <= 0");
    require(rows == 0 || (y && bias), CAB_ERR_INVALID_ARGUMENT, name + ": null y or bias");
}

template <class In, class Out>
void convert(const In *x, Out *y, int64_t n, cudaStream_t stream, const char *name) {
    if (aligned16(x) && aligned16(y))
        convert_kernel<In, Out, true>
            <<<grid_for((n + kVec - 1) / kVec), kThreads, 0, stream>>>(x, y, n);
    else
        convert_kernel<In, Out, false><<<grid_for(n), kThreads, 0, stream>>>(x, y, n);
    attention::check_launch(name);
}

template <class T>
void bias(T *y, const float *b, int32_t rows, int32_t cols, cudaStream_t stream, const char *name) {
    const int64_t n = static_cast<int64_t>(rows) * cols;
    if (cols % kVec == 0 && aligned16(y) && aligned16(b))
        bias_kernel<T, true><<<grid_for(n / kVec), kThreads, 0, stream>>>(y, b, n, cols);
    else
        bias_kernel<T, false><<<grid_for(n), kThreads, 0, stream>>>(y, b, n, cols);
    attention::check_launch(name);
}

}  // namespace

void add_to_f32(float *x, const void *y_bf16, int64_t n, cudaStream_t stream) {
    check_n(n, x, y_bf16, "add_to_f32");
    if (n == 0) return;
    const bf16 *y = static_cast<const bf16 *>(y_bf16);
    if (aligned16(x) && aligned16(y))
        add_kernel<true><<<grid_for((n + kVec - 1) / kVec), kThreads, 0, stream>>>(x, y, n);
    else
        add_kernel<false><<<grid_for(n), kThreads, 0, stream>>>(x, y, n);
    attention::check_launch("add_to_f32");
}

void add_bias(void *y_bf16, const float *bias_f32, int32_t rows, int32_t cols,
              cudaStream_t stream) {
    check_bias(y_bf16, bias_f32, rows, cols, "add_bias");
    if (rows == 0) return;
    bias(static_cast<bf16 *>(y_bf16), bias_f32, rows, cols, stream, "add_bias");
}

void add_bias_f32(float *y, const float *bias_f32, int32_t rows, int32_t cols,
                  cudaStream_t stream) {
    check_bias(y, bias_f32, rows, cols, "add_bias_f32");
    if (rows == 0) return;
    bias(y, bias_f32, rows, cols, stream, "add_bias_f32");
}

void add_bias_round(const float *sum, const float *bias_f32, void *y_bf16, int32_t rows,
                    int32_t cols, cudaStream_t stream) {
    check_bias(y_bf16, bias_f32, rows, cols, "add_bias_round");
    require(rows == 0 || sum, CAB_ERR_INVALID_ARGUMENT, "add_bias_round: null sum");
    if (rows == 0) return;
    const int64_t n = int64_t{rows} * cols;
    bias_round_kernel<<<grid_for(n), kThreads, 0, stream>>>(sum, bias_f32,
                                                            static_cast<bf16 *>(y_bf16), n, cols);
    attention::check_launch("add_bias_round");
}

void f32_to_bf16(const float *x, void *y, int64_t n, cudaStream_t stream) {
    check_n(n, x, y, "f32_to_bf16");
    if (n == 0) return;
    convert(x, static_cast<bf16 *>(y), n, stream, "f32_to_bf16");
}

void bf16_to_f32(const void *x, float *y, int64_t n, cudaStream_t stream) {
    check_n(n, x, y, "bf16_to_f32");
    if (n == 0) return;
    convert(static_cast<const bf16 *>(x), y, n, stream, "bf16_to_f32");
}

}  // namespace cab::cuda::elementwise
