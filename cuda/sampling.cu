// Greedy argmax. One row is far too little work for one CTA (151,936 floats took one 512-thread
// CTA 20 us, a chain of DRAM round trips), so a row goes to a cluster of kCtas CTAs on as many
// SMs: every thread issues all its 16-byte loads of the row at once and folds them into one
// 64-bit key, the keys are reduced by warp shuffles and shared memory to one per CTA, and each CTA
// stores its key into the shared memory of the cluster's first CTA, which reduces the kCtas keys
// and writes the index. A key orders elements as the comparison (value, then lower index) does,
// so the largest key is the result whatever order the keys meet in, and the reduction needs no
// memory outside the launch: nothing to reset between calls, one launch to capture in a graph.
#include <cstdint>
#include <string>

#include "attention/launch.h"
#include "sampling.cuh"
#include "util/error.h"

namespace cab::cuda::sampling {
namespace {

constexpr int kThreads = 1024;
constexpr int kCtas = 8;    // CTAs per row: one cluster, the largest portable size
constexpr int kUnroll = 8;  // 16-byte loads of a thread in flight: 8 x 8192 covers 262,144 floats

// value's order bits (NaN as -inf, -0 as +0, negative values' bits inverted so that they count
// down) over index's bits inverted (the lower index the larger key).
__device__ __forceinline__ uint64_t key(float value, int32_t index) {
    uint32_t u = isnan(value) ? 0xff800000u : __float_as_uint(value);
    if ((u << 1) == 0) u = 0;
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return (uint64_t{u} << 32) | ~static_cast<uint32_t>(index);
}

__device__ __forceinline__ uint64_t larger(uint64_t a, uint64_t b) {
    return a > b ? a : b;
}

__device__ __forceinline__ uint64_t warp_max(uint64_t k) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) k = larger(k, __shfl_xor_sync(0xffffffffu, k, o));
    return k;
}

// Thread t of the CTA of rank c in the cluster of row blockIdx.x / kCtas takes the row's 16-byte
// vectors c * kThreads + t + n * kCtas * kThreads (n = 0, 1, ...); the first threads of the
// cluster also take the up to 3 elements before the first 16-byte boundary and after the last
// whole vector.
__global__ void __cluster_dims__(kCtas, 1, 1) __launch_bounds__(kThreads)
    argmax_kernel(const float *logits, int64_t stride, int vocab, int32_t *out) {
    __shared__ uint64_t warp_keys[kThreads / 32];
    __shared__ uint64_t cta_keys[kCtas];  // used in the cluster's first CTA
    // Phase 1 of the cluster barrier: a CTA writes into another's shared memory only once every
    // CTA of the cluster runs.
    __cluster_barrier_arrive_relaxed();
    const unsigned rank = __clusterRelativeBlockRank();
    const int64_t row_index = blockIdx.x / kCtas;
    const float *row = logits + row_index * stride;
    const int misaligned = static_cast<int>(reinterpret_cast<uintptr_t>(row) % 16) / 4;
    const int head = min((4 - misaligned) % 4, vocab);
    const int vectors = (vocab - head) / 4, body_end = head + 4 * vectors;
    const int t = static_cast<int>(rank) * kThreads + static_cast<int>(threadIdx.x);

    uint64_t best = 0;  // below every element's key
    if (t < head) best = larger(best, key(__ldcg(row + t), t));
    if (t < vocab - body_end) best = larger(best, key(__ldcg(row + body_end + t), body_end + t));
    const float4 *body = reinterpret_cast<const float4 *>(row + head);
    constexpr int kStep = kCtas * kThreads;
    for (int c0 = t; c0 < vectors; c0 += kUnroll * kStep) {
        float4 v[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int c = c0 + u * kStep;
            v[u] = c < vectors ? __ldcg(body + c) : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int c = c0 + u * kStep, i = head + 4 * c;
            if (c >= vectors) continue;
            best = larger(best, key(v[u].x, i));
            best = larger(best, key(v[u].y, i + 1));
            best = larger(best, key(v[u].z, i + 2));
            best = larger(best, key(v[u].w, i + 3));
        }
    }

    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    best = warp_max(best);
    if (lane == 0) warp_keys[warp] = best;
    __syncthreads();
    static_assert(kThreads / 32 == 32, "one warp reduces the warps' keys");
    best = warp_max(warp_keys[lane]);  // thread 0 holds the CTA's key (cta_keys[rank])
    __cluster_barrier_wait();
    if (threadIdx.x == 0)
        static_cast<uint64_t *>(__cluster_map_shared_rank(cta_keys, 0))[rank] = best;
    // Phase 2: the stores above (release) are seen by the first CTA after its wait (acquire).
    __cluster_barrier_arrive();
    __cluster_barrier_wait();
    if (rank == 0 && threadIdx.x == 0) {
        for (int c = 1; c < kCtas; ++c) best = larger(best, cta_keys[c]);
        out[row_index] = static_cast<int32_t>(~static_cast<uint32_t>(best));
    }
}

}  // namespace

void argmax(const float *logits, int64_t stride, int32_t rows, int32_t vocab, int32_t *out,
            cudaStream_t stream) {
    require(rows >= 0, CAB_ERR_INVALID_ARGUMENT, "argmax: rows " + std::to_string(rows) + " < 0");
    require(rows <= INT32_MAX / kCtas, CAB_ERR_INVALID_ARGUMENT,
            "argmax: rows " + std::to_string(rows) + " > " + std::to_string(INT32_MAX / kCtas));
    require(vocab > 0, CAB_ERR_INVALID_ARGUMENT,
            "argmax: vocab " + std::to_string(vocab) + " <= 0");
    require(stride >= vocab, CAB_ERR_INVALID_ARGUMENT,
            "argmax: stride " + std::to_string(stride) + " < vocab " + std::to_string(vocab));
    require(rows == 0 || (logits && out), CAB_ERR_INVALID_ARGUMENT, "argmax: null logits or out");
    if (rows == 0) return;
    argmax_kernel<<<static_cast<unsigned>(rows) * kCtas, kThreads, 0, stream>>>(logits, stride,
                                                                                vocab, out);
    attention::check_launch("argmax");
}

}  // namespace cab::cuda::sampling
