// Greedy argmax: one block per row, each thread scans a strided slice, then a shuffle and shared
// memory reduction on (value, index) with the lower index winning ties.
#include <cstdint>
#include <string>

#include "attention/launch.h"
#include "sampling.cuh"
#include "util/error.h"

namespace cab::cuda::sampling {
namespace {

constexpr int kThreads = 512;

struct Best {
    float v;
    int32_t i;
};

__device__ Best better(Best a, Best b) {
    return (b.v > a.v || (b.v == a.v && b.i < a.i)) ? b : a;
}

__global__ void argmax_kernel(const float *logits, int64_t stride, int vocab, int32_t *out) {
    __shared__ Best partial[kThreads / 32];
    const float *row = logits + blockIdx.x * stride;
    // INT32_MAX: any real element, even -inf, replaces the start on the tie rule.
    Best best{-INFINITY, INT32_MAX};
    for (int i = threadIdx.x; i < vocab; i += kThreads) {
        float v = row[i];
        best = better(best, Best{isnan(v) ? -INFINITY : v, i});
    }
    for (int o = 16; o > 0; o >>= 1) {
        Best other{__shfl_xor_sync(0xffffffffu, best.v, o),
                   __shfl_xor_sync(0xffffffffu, best.i, o)};
        best = better(best, other);
    }
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = best;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < kThreads / 32; ++w) best = better(best, partial[w]);
        out[blockIdx.x] = best.i;
    }
}

}  // namespace

void argmax(const float *logits, int64_t stride, int32_t rows, int32_t vocab, int32_t *out,
            cudaStream_t stream) {
    require(rows >= 0, CAB_ERR_INVALID_ARGUMENT, "argmax: rows " + std::to_string(rows) + " < 0");
    require(vocab > 0, CAB_ERR_INVALID_ARGUMENT,
            "argmax: vocab " + std::to_string(vocab) + " <= 0");
    require(stride >= vocab, CAB_ERR_INVALID_ARGUMENT,
            "argmax: stride " + std::to_string(stride) + " < vocab " + std::to_string(vocab));
    require(rows == 0 || (logits && out), CAB_ERR_INVALID_ARGUMENT, "argmax: null logits or out");
    if (rows == 0) return;
    argmax_kernel<<<rows, kThreads, 0, stream>>>(logits, stride, vocab, out);
    attention::check_launch("argmax");
}

}  // namespace cab::cuda::sampling
