// Merge of decode's split states (cascade attention, FlashInfer's cascade.cuh). Per (stream,
// head) lse is the log2-sum-exp over the splits, and the partial outputs are weighted by
// 2^(lse_split - lse). Grid (group, n_head_kv, batch): CTA x merges output row x. With scores,
// CTA 0 also completes the stream's pending record (pending.h): the query the decode kernel
// staged moved into place, the heads' lse, and the header that makes them the pending query.
#pragma once

#include <math_constants.h>

#include "attention/pending.cuh"
#include "attention/splits.cuh"

namespace cab::cuda::attn {

constexpr int kMergeThreads = 256;
constexpr int kMergeMaxSplits = 128;  // = kDecodeMaxSplits (heuristics.h)

// lse of rows [0, group) over a stream's n_splits partial states, into lse (shared memory).
__device__ __forceinline__ void merge_lse(float *lse, const float *part_lse, int group,
                                          int n_splits) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    for (int row = warp; row < group; row += kMergeThreads / 32) {
        float mx = -CUDART_INF_F;
        for (int s = lane; s < n_splits; s += 32) mx = fmaxf(mx, part_lse[s * group + row]);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
        float sum = 0.0f;
        for (int s = lane; s < n_splits; s += 32) sum += ex2(part_lse[s * group + row] - mx);
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
        if (lane == 0) lse[row] = mx + __log2f(sum);
    }
}

template <int D, bool kRecord>
__global__ void __launch_bounds__(kMergeThreads)
    merge_kernel(const __grid_constant__ DecodeParams p) {
    constexpr int kParts = kMergeThreads / D;  // threads per output column, over the splits
    // Partial outputs a thread loads with the splits' lse, before the weights that need them:
    // one round trip to L2 after decode's end instead of two, up to kEarly * kParts splits (32 at
    // head_dim 64, 16 at 128). Not every split's: with all 128 in registers (64-128 registers
    // against 40), batch 16 at 4k keys ran 5-7% slower; with 8, no shape over 0.6% slower.
    constexpr int kEarly = 8;
    __shared__ float lse[16];
    __shared__ float weight[kMergeMaxSplits];
    __shared__ float partial[kMergeThreads];
    const int tid = threadIdx.x, head_kv = blockIdx.y, seq = blockIdx.z, row = blockIdx.x;
    const int sid = seq * p.n_head_kv + head_kv;
    allow_dependents();  // the next kernel's CTAs may launch (and wait for this one)
    const DeviceStream st = p.streams[sid];
    const int length = min(st.length, p.max_length);
    const int n_splits = stream_splits(st, length, p.chunk, p.n_splits, p.q8_tile).count;
    const float *part_lse = p.part_lse + static_cast<int64_t>(sid) * p.n_splits * p.group;
    const int col = tid % D, part = tid / D;
    const float *src = p.part_o + (static_cast<int64_t>(sid) * p.n_splits * p.group + row) * D;
    grid_dependency_wait();
    float early[kEarly];
#pragma unroll
    for (int i = 0; i < kEarly; ++i) {
        const int s = part + i * kParts;
        early[i] = s < n_splits ? src[static_cast<int64_t>(s) * p.group * D + col] : 0.0f;
    }
    // CTA 0 completes the record: kDefer records are the stream's (DeviceStream::id), kInstall
    // ones the workspace's. Every split has read the pending query now, so the staged one
    // replaces it: loaded here, with merge_lse's loads, to keep it off this CTA's path.
    static_assert(16 * D / 8 <= kMergeThreads, "one 16-byte chunk of the query per thread");
    const bool completes = kRecord && row == 0 && (!p.records_by_id || st.id >= 0);
    PendingRef rec{};
    uint4 staged{};
    const bool moves = completes && p.records_by_id && tid < p.group * D / 8;
    if (completes) rec = pending_record(p.pending, p.record_bytes, p.records_by_id ? st.id : sid);
    if (moves) staged = __ldcg(reinterpret_cast<const uint4 *>(rec.staging(p.group, D)) + tid);
    merge_lse(lse, part_lse, p.group, n_splits);
    __syncthreads();
    if (completes) {
        if (moves) reinterpret_cast<uint4 *>(rec.q())[tid] = staged;
        if (tid < p.group) rec.lse()[tid] = lse[tid];
        if (tid == 0) store_header(rec, length, st.epoch);
    }
    for (int s = tid; s < n_splits; s += kMergeThreads)
        weight[s] = ex2(part_lse[s * p.group + row] - lse[row]);
    __syncthreads();
    float acc = 0.0f;
#pragma unroll
    for (int i = 0; i < kEarly; ++i) {
        const int s = part + i * kParts;
        if (s < n_splits) acc += early[i] * weight[s];
    }
#pragma unroll 8
    for (int s = part + kEarly * kParts; s < n_splits; s += kParts)
        acc += src[static_cast<int64_t>(s) * p.group * D + col] * weight[s];
    partial[tid] = acc;
    __syncthreads();
    if (part == 0) {
#pragma unroll
        for (int k = 1; k < kParts; ++k) acc += partial[k * D + col];
        p.out[seq * p.out_stride + (head_kv * p.group + row) * D + col] = __float2bfloat16_rn(acc);
    }
}

}  // namespace cab::cuda::attn
