// Merge of decode's split states (cascade attention, FlashInfer's cascade.cuh). Per (stream,
// head) lse is the log2-sum-exp over the splits; the partial outputs are weighted by
// 2^(lse_split - lse), and, with scores, every key's stored probability is rescaled by
// 2^(slice reference - lse) and summed over the group's heads into the stream's accumulators
// (KeyScores, which decode_kernel also runs itself when a launch has one split).
// Grid (group + key blocks, n_head_kv, batch): CTA x < group merges output row x, the others
// one block of kMergeKeys keys each, so both parts spread over the whole GPU even at batch 1.
#pragma once

#include <math_constants.h>

#include "attention/page.cuh"

namespace cab::cuda::attn {

// The score update of one block of a stream's keys [key0, key_end), at most kKeys of them: per
// key, the probabilities decode stored for the group's heads (fp16, relative to the reference of
// their 16-key slice, decode.cuh) are rescaled by 2^(reference - lse) and summed into
// score += sum, observers += 1, last = sum. Thread t takes the key pairs key0 + 2 (t + j THREADS):
// one 4-byte load per head and pair, and a warp's loads cover 128 contiguous bytes. The steps
// are separate so that a caller can issue its loads before it needs them: the accumulators
// (never written by decode) even before waiting for the decode kernel, the stored values before
// computing lse.
template <int THREADS, int PAIRS>
class KeyScores {
public:
    static constexpr int kKeys = 2 * PAIRS * THREADS;
    static constexpr int kSlices = kKeys / 16;
    static constexpr int kRefs = kSlices * 16 / THREADS;  // slice references per thread
    static_assert(kSlices * 16 % THREADS == 0, "the block's slice references spread evenly");

    struct Shared {
        // 2^(reference - lse) per slice and head; rows of 17 floats: a warp's pairs span 4
        // slices, which then fall in different banks.
        float factor[kSlices][17];
    };

    // Pulls the accumulators of the block's keys into L1 and L2 without holding registers, so that
    // a later load_accumulators waits on a cache instead of DRAM.
    __device__ __forceinline__ static void prefetch(const DecodeParams &p, const int32_t *blocks,
                                                    int key0, int key_end) {
        const int pitch = 1 << p.kv.block_shift, end = min(key_end, key0 + kKeys);
#pragma unroll
        for (int j = 0; j < PAIRS; ++j)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                const int key = pair_key(key0, j) + c;
                if (key >= end) continue;
                const float *slot = slot_scores(p.kv, blocks, key);
                prefetch_l1(slot + kScoreRow * pitch);
                prefetch_l1(slot + kObserversRow * pitch);
            }
    }

    // 1. The accumulators of the block's keys.
    __device__ __forceinline__ void load_accumulators(const DecodeParams &p, const int32_t *blocks,
                                                      int key0, int key_end) {
        key0_ = key0;
        key_end_ = min(key_end, key0 + kKeys);
        const int pitch = 1 << p.kv.block_shift;  // floats between two kinds of a slot
#pragma unroll
        for (int j = 0; j < PAIRS; ++j)
#pragma unroll
            for (int c = 0; c < 2; ++c) {
                const int key = pair_key(key0_, j) + c;
                slot_[j][c] = key < key_end_ ? slot_scores(p.kv, blocks, key) : nullptr;
                score_[j][c] = slot_[j][c] ? slot_[j][c][kScoreRow * pitch] : 0.0f;
                observers_[j][c] = slot_[j][c] ? slot_[j][c][kObserversRow * pitch] : 0.0f;
            }
    }

    // 2. What decode stored for them: probabilities and slice references. Plain loads: in
    // decode_kernel's own use, other threads of the CTA wrote them before a barrier.
    __device__ __forceinline__ void load_probs(const DecodeParams &p, int sid) {
        const __half *probs = p.probs + static_cast<int64_t>(sid) * p.group * p.key_cap;
#pragma unroll
        for (int j = 0; j < PAIRS; ++j) {
            const int key = pair_key(key0_, j);
#pragma unroll
            for (int row = 0; row < 16; ++row) {
                __half2 v = __float2half2_rn(0.0f);
                if (row < p.group && key < key_end_) {
                    const __half *src = probs + static_cast<int64_t>(row) * p.key_cap + key;
                    v = key + 1 < key_end_ ? *reinterpret_cast<const __half2 *>(src)
                                           : __halves2half2(*src, __float2half_rn(0.0f));
                }
                prob_[j][row] = v;
            }
        }
        const float *slice_m =
            p.slice_m + (static_cast<int64_t>(sid) * (p.key_cap / 16) + key0_ / 16) * p.group;
        const int n = (key_end_ - key0_ + 15) / 16 * p.group;
#pragma unroll
        for (int k = 0; k < kRefs; ++k) {
            const int i = threadIdx.x + k * THREADS;
            ref_[k] = i < n ? slice_m[i] : 0.0f;
        }
    }

    // 3. With lse[head] in shared memory: the factors of the block's slices. The caller syncs
    // the CTA between this and store().
    __device__ __forceinline__ void factors(Shared &s, const float *lse, int group) const {
        const int n = (key_end_ - key0_ + 15) / 16 * group;
#pragma unroll
        for (int k = 0; k < kRefs; ++k) {
            const int i = threadIdx.x + k * THREADS;
            if (i < n) s.factor[i / group][i % group] = ex2(ref_[k] - lse[i % group]);
        }
    }

    // 4. The sums over the group's heads into the accumulators.
    __device__ __forceinline__ void store(const Shared &s, const DecodeParams &p) const {
        const int pitch = 1 << p.kv.block_shift;
#pragma unroll
        for (int j = 0; j < PAIRS; ++j) {
            const int key = pair_key(key0_, j);
            if (key >= key_end_) continue;
            const float *f = s.factor[(key - key0_) / 16];  // both keys of a pair: one slice
            float sum[2] = {0.0f, 0.0f};
#pragma unroll
            for (int row = 0; row < 16; ++row)
                if (row < p.group) {
                    const float2 v = __half22float2(prob_[j][row]);
                    sum[0] = fmaf(v.x, f[row], sum[0]);
                    sum[1] = fmaf(v.y, f[row], sum[1]);
                }
#pragma unroll
            for (int c = 0; c < 2; ++c)
                if (slot_[j][c]) {
                    slot_[j][c][kScoreRow * pitch] = score_[j][c] + sum[c];
                    slot_[j][c][kObserversRow * pitch] = observers_[j][c] + 1.0f;
                    slot_[j][c][kLastRow * pitch] = sum[c];
                }
        }
    }

private:
    __device__ __forceinline__ static int pair_key(int key0, int j) {  // this thread's pair j
        return key0 + 2 * (static_cast<int>(threadIdx.x) + j * THREADS);
    }

    int key0_ = 0, key_end_ = 0;
    float *slot_[PAIRS][2];
    float score_[PAIRS][2], observers_[PAIRS][2];
    __half2 prob_[PAIRS][16];
    float ref_[kRefs];
};

constexpr int kMergeThreads = 256;
using MergeKeyScores = KeyScores<kMergeThreads, 2>;
constexpr int kMergeKeys = MergeKeyScores::kKeys;  // keys per score CTA
constexpr int kMergeMaxSplits = 128;               // = kDecodeMaxSplits (heuristics.h)

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
    __shared__ float lse[16];
    __shared__ float weight[kMergeMaxSplits];
    __shared__ float partial[kMergeThreads];
    const int tid = threadIdx.x, head_kv = blockIdx.y, seq = blockIdx.z;
    const int sid = seq * p.n_head_kv + head_kv;
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
        __shared__ MergeKeyScores::Shared shared;
        const int key0 = (blockIdx.x - p.group) * kMergeKeys;
        if (key0 >= length) return;
        MergeKeyScores keys;
        keys.load_accumulators(p, st.blocks, key0, length);
        grid_dependency_wait();
        keys.load_probs(p, sid);
        merge_lse(lse, part_lse, p.group, n_splits);
        __syncthreads();
        keys.factors(shared, lse, p.group);
        __syncthreads();
        keys.store(shared, p);
    }
}

}  // namespace cab::cuda::attn
