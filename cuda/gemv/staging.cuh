// How the decode GEMV (gemv.cu) stages its input rows in shared memory before its products: the
// residual stream normed (RMSNorm in the prologue) or bf16 activations as they are.
#pragma once

#include "gemv/common.cuh"

namespace cab::cuda::gemv::detail {

// Stages rmsnorm(x) * norm_w as bf16 [R][k], rounded as cuda/norm.cu rounds it:
// bf16(v * rsqrt(mean(v^2) + eps) * w) with the same fp32 operations (the sum of squares may add
// in another order).
template <int R>
__device__ void stage_rmsnorm(const Params &p, uint16_t *xs) {
    __shared__ float partial[kWarps][R];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    float ss[R];
#pragma unroll
    for (int r = 0; r < R; ++r) ss[r] = 0.0f;
    for (int i = tid * 4; i < p.k; i += kThreads * 4) {
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const float4 v = __ldcg(reinterpret_cast<const float4 *>(p.x + int64_t{r} * p.k + i));
            ss[r] += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        }
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
        const float s = warp_sum(ss[r]);
        if (lane == 0) partial[warp][r] = s;
    }
    __syncthreads();
    float scale[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
        float total = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) total += partial[w][r];
        scale[r] = rsqrtf(total / static_cast<float>(p.k) + p.eps);
    }
    for (int i = tid * 4; i < p.k; i += kThreads * 4) {
        const float g0 = p.norm_w[i], g1 = p.norm_w[i + 1], g2 = p.norm_w[i + 2],
                    g3 = p.norm_w[i + 3];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const float4 v = __ldcg(reinterpret_cast<const float4 *>(p.x + int64_t{r} * p.k + i));
            uint2 packed;
            packed.x = bf16_bits(v.x * scale[r] * g0) | bf16_bits(v.y * scale[r] * g1) << 16;
            packed.y = bf16_bits(v.z * scale[r] * g2) | bf16_bits(v.w * scale[r] * g3) << 16;
            *reinterpret_cast<uint2 *>(xs + int64_t{r} * p.k + i) = packed;
        }
    }
    __syncthreads();
}

// Stages the bf16 rows of a as [R][k]: every group reads all of them, which shared memory serves
// at any batch size and a small L1 would not.
template <int R>
__device__ void stage_bf16(const Params &p, uint16_t *xs) {
    const int per_row = p.k / 8;
    for (int i = threadIdx.x; i < R * per_row; i += kThreads) {
        const int r = i / per_row, c = i % per_row;
        reinterpret_cast<uint4 *>(xs)[i] =
            __ldcg(reinterpret_cast<const uint4 *>(p.a + int64_t{r} * p.a_stride + int64_t{c} * 8));
    }
    __syncthreads();
}

}  // namespace cab::cuda::gemv::detail
