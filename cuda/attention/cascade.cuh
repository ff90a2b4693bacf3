// Merge of decode's split states (cascade attention, FlashInfer's cascade.cuh). Per (stream,
// head) lse is the log2-sum-exp over the splits; the partial outputs are weighted by
// 2^(lse_split - lse), and, with scores, every key's stored probability is rescaled by
// 2^(slice max - lse) and summed over the group's heads into the stream's accumulators.
// Grid (group + key blocks, n_head_kv, batch): CTA x < group merges output row x, the others
// one block of kMergeKeys keys each, so both parts spread over the whole GPU even at batch 1.
#pragma once

#include <math_constants.h>

#include "attention/page.cuh"

namespace cab::cuda::attn {

constexpr int kMergeThreads = 256;
constexpr int kMergeKeys = 1024;      // keys per score CTA: 4 consecutive keys per thread
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

template <int D, bool kScores>
__global__ void __launch_bounds__(kMergeThreads)
    merge_kernel(const __grid_constant__ DecodeParams p) {
    constexpr int kParts = kMergeThreads / D;  // threads per output column, over the splits
    constexpr int kPerThread = kMergeKeys / kMergeThreads;
    __shared__ float lse[16];
    __shared__ float weight[kMergeMaxSplits];
    __shared__ float partial[kMergeThreads];
    __shared__ float factor[kMergeKeys / 16][16];
    const int tid = threadIdx.x, head_kv = blockIdx.y, seq = blockIdx.z;
    const int sid = seq * p.n_head_kv + head_kv;
    allow_dependents();  // the next kernel's CTAs may launch (and wait for this one)
    const DeviceStream st = p.streams[sid];
    const int length = min(st.length, p.max_length);
    const int n_splits = (length + p.chunk - 1) / p.chunk;  // the splits that hold keys
    const float *part_lse = p.part_lse + static_cast<int64_t>(sid) * p.n_splits * p.group;

    if (blockIdx.x < p.group) {  // output row `row`: columns over threads, splits over parts
        const int row = blockIdx.x;
        grid_dependency_wait();
        merge_lse(lse, part_lse, p.group, n_splits);
        __syncthreads();
        for (int s = tid; s < n_splits; s += kMergeThreads)
            weight[s] = ex2(part_lse[s * p.group + row] - lse[row]);
        __syncthreads();
        const int col = tid % D, part = tid / D;
        const float *src = p.part_o + (static_cast<int64_t>(sid) * p.n_splits * p.group + row) * D;
        float acc = 0.0f;
#pragma unroll 8
        for (int s = part; s < n_splits; s += kParts)
            acc += src[static_cast<int64_t>(s) * p.group * D + col] * weight[s];
        partial[tid] = acc;
        __syncthreads();
        if (part == 0) {
#pragma unroll
            for (int k = 1; k < kParts; ++k) acc += partial[k * D + col];
            p.out[seq * p.out_stride + (head_kv * p.group + row) * D + col] =
                __float2bfloat16_rn(acc);
        }
        return;
    }
    if constexpr (kScores) {
        // Keys key0 + tid + i * kMergeThreads: coalesced. Each round trip to memory is issued
        // before the first value is needed: the accumulators (not written by decode) even before
        // waiting for the decode kernel, then probabilities, slice maxima and split states.
        const int key0 = (blockIdx.x - p.group) * kMergeKeys;
        if (key0 >= length) return;
        const int key_end = min(length, key0 + kMergeKeys);
        const int pitch = 1 << p.kv.block_shift;  // floats between two kinds of a slot
        float *slot[kPerThread];
        float score[kPerThread], observers[kPerThread];
#pragma unroll
        for (int i = 0; i < kPerThread; ++i) {
            const int key = key0 + tid + i * kMergeThreads;
            slot[i] = key < key_end ? slot_scores(p.kv, st.blocks, key) : nullptr;
            if (slot[i]) {
                score[i] = slot[i][kScoreRow * pitch];
                observers[i] = slot[i][kObserversRow * pitch];
            }
        }
        grid_dependency_wait();
        const float *probs = p.probs + static_cast<int64_t>(sid) * p.group * p.key_cap;
        float in[kPerThread][16];
#pragma unroll
        for (int i = 0; i < kPerThread; ++i) {
            const int key = key0 + tid + i * kMergeThreads;
#pragma unroll
            for (int row = 0; row < 16; ++row)
                in[i][row] = row < p.group && key < key_end ? probs[row * p.key_cap + key] : 0.0f;
        }
        const int slice0 = key0 / 16, n_slices = (key_end - key0 + 15) / 16;
        const float *slice_m = p.slice_m + static_cast<int64_t>(sid) * (p.key_cap / 16) * p.group;
        float m_ref[kMergeKeys / 16 * 16 / kMergeThreads];
#pragma unroll
        for (int k = 0; k < kMergeKeys / 16 * 16 / kMergeThreads; ++k) {
            const int i = tid + k * kMergeThreads;
            m_ref[k] = i < n_slices * p.group ? slice_m[slice0 * p.group + i] : 0.0f;
        }
        merge_lse(lse, part_lse, p.group, n_splits);
        __syncthreads();
#pragma unroll
        for (int k = 0; k < kMergeKeys / 16 * 16 / kMergeThreads; ++k) {
            const int i = tid + k * kMergeThreads;
            if (i < n_slices * p.group)
                factor[i / p.group][i % p.group] = ex2(m_ref[k] - lse[i % p.group]);
        }
        __syncthreads();
#pragma unroll
        for (int i = 0; i < kPerThread; ++i) {
            const int key = key0 + tid + i * kMergeThreads;
            if (key >= key_end) continue;
            float sum = 0.0f;
#pragma unroll
            for (int row = 0; row < 16; ++row)
                if (row < p.group) sum += in[i][row] * factor[(key - key0) / 16][row];
            slot[i][kScoreRow * pitch] = score[i] + sum;
            slot[i][kObserversRow * pitch] = observers[i] + 1.0f;
            slot[i][kLastRow * pitch] = sum;
        }
    }
}

}  // namespace cab::cuda::attn
