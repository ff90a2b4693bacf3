// RoPE: one thread per (token, head, pair). The inverse frequencies come from the host in double
// (as the CPU backend computes them) inside the kernel's parameters, so GPU and CPU angles agree.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "attention/launch.h"
#include "pos_enc.cuh"
#include "util/error.h"

namespace cab::cuda::pos_enc {
namespace {

constexpr int kThreads = 256;

__global__ void rope_kernel(__nv_bfloat16 *x, int64_t stride, const int32_t *positions, int n_heads,
                            int half, int64_t total, double freq_scale, bool neox,
                            RopeFreqs freqs) {
    const int pair_stride = neox ? 1 : 2, partner = neox ? half : 1;
    for (int64_t t = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; t < total;
         t += static_cast<int64_t>(gridDim.x) * kThreads) {
        const int i = static_cast<int>(t % half);
        const int64_t token_head = t / half;
        const int head = static_cast<int>(token_head % n_heads);
        const int64_t token = token_head / n_heads;
        __nv_bfloat16 *a = x + token * stride + static_cast<int64_t>(head) * 2 * half +
                           static_cast<int64_t>(i) * pair_stride;
        __nv_bfloat16 *b = a + partner;
        float cs, sn, y0, y1;
        rope_angle(positions[token], freq_scale, freqs.inv[i], cs, sn);
        rope_rotate(__bfloat162float(*a), __bfloat162float(*b), cs, sn, y0, y1);
        *a = __float2bfloat16(y0);
        *b = __float2bfloat16(y1);
    }
}

}  // namespace

RopeFreqs rope_freqs(float theta, int32_t head_dim) {
    require(head_dim > 0 && head_dim % 2 == 0 && head_dim / 2 <= kMaxHalfDim,
            CAB_ERR_INVALID_ARGUMENT,
            "rope: head_dim " + std::to_string(head_dim) + " must be even and at most " +
                std::to_string(2 * kMaxHalfDim));
    RopeFreqs f{};
    for (int i = 0; i < head_dim / 2; ++i)
        f.inv[i] = std::pow(static_cast<double>(theta), -2.0 * i / head_dim);
    return f;
}

void rope(const RopeArgs &args, cudaStream_t stream) {
    const int32_t d = args.head_dim;
    require(d > 0 && d % 2 == 0 && d / 2 <= kMaxHalfDim, CAB_ERR_INVALID_ARGUMENT,
            "rope: head_dim " + std::to_string(d) + " must be even and at most " +
                std::to_string(2 * kMaxHalfDim));
    require(args.n_tokens >= 0 && args.n_heads > 0, CAB_ERR_INVALID_ARGUMENT,
            "rope: n_tokens " + std::to_string(args.n_tokens) + " or n_heads " +
                std::to_string(args.n_heads) + " out of range");
    require(args.stride >= static_cast<int64_t>(args.n_heads) * d, CAB_ERR_INVALID_ARGUMENT,
            "rope: stride " + std::to_string(args.stride) + " < n_heads * head_dim");
    require(args.theta > 0.0f, CAB_ERR_INVALID_ARGUMENT, "rope: theta must be > 0");
    require(args.n_tokens == 0 || (args.x && args.positions), CAB_ERR_INVALID_ARGUMENT,
            "rope: null x or positions");
    if (args.n_tokens == 0) return;
    const int half = d / 2;
    const RopeFreqs freqs = rope_freqs(args.theta, d);
    const int64_t total = static_cast<int64_t>(args.n_tokens) * args.n_heads * half;
    const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 65536);
    rope_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        static_cast<__nv_bfloat16 *>(args.x), args.stride, args.positions, args.n_heads, half,
        total, static_cast<double>(args.freq_scale), args.style == RopeStyle::NeoX, freqs);
    attention::check_launch("rope");
}

}  // namespace cab::cuda::pos_enc
