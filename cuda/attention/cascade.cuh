// Merge of decode's split states (cascade attention, FlashInfer's cascade.cuh). Per (stream,
// head) lse is the log2-sum-exp over the splits, and the partial outputs are weighted by
// 2^(lse_split - lse). Two kernels, chosen per launch by decode_merge (heuristics.h), over grids
// (row blocks, n_head_kv, batch):
// - merge_row_kernel: CTA x merges output row x, a thread per column;
// - merge_vector_kernel: CTA x merges rows [x * merge_rows, (x + 1) * merge_rows) of the stream's
//   group as vectors of 4 columns on consecutive threads.
// With scores, CTA 0 also completes the stream's pending record (pending.h): the query the decode
// kernel staged moved into place, the heads' lse, and the header that makes them the pending
// query.
#pragma once

#include <math_constants.h>

#include "attention/heuristics.h"
#include "attention/pending.cuh"
#include "attention/splits.cuh"

namespace cab::cuda::attn {

constexpr int kMergeThreads = attention::kDecodeMergeThreads;
constexpr int kMergeWarps = kMergeThreads / 32;
constexpr int kMergeMaxSplits = attention::kDecodeMaxSplits;
constexpr int kMergeMaxRows = 16;  // query heads per kv head
// Split states a thread loads right after the wait for decode, before the weights that need
// them: one round trip to L2 after decode's end instead of two while they cover the splits. Not
// every split's: with all 128 in registers (64-128 registers against 40), batch 16 at 4k keys ran
// 5-7% slower.
constexpr int kMergeEarly = attention::kDecodeMergeEarly;
static_assert(kMergeMaxRows * attention::kDecodeMergeGroupSplits <= kMergeMaxSplits,
              "a whole group's weights fit the weights of a row's splits");

// Loads the compiler keeps where they are written (through L2: the decode kernel wrote the data).
// ptxas moved plain loads of the split states and of the staged query past the barrier after the
// weights, a second round trip to L2 (0.5B shape, batch 1 at 4k keys: 4.9 against 4.4 µs; with
// scores 5.8 against 5.2), and holding them before the weights instead (an empty asm reading
// them) made the weights wait for them. The row kernel reads its states, one float a thread, so
// too: as plain loads, which its SASS issues at the same point, 7B shape batch 1 at 4k keys
// without scores ran 10.8 against 10.4 µs. `ptr` must be valid.
__device__ __forceinline__ uint4 load_now(const uint4 *ptr) {
    uint4 v;
    asm volatile("ld.global.cg.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(ptr));
    return v;
}
__device__ __forceinline__ float load_now(const float *ptr) {
    float v;
    asm volatile("ld.global.cg.f32 %0, [%1];" : "=f"(v) : "l"(ptr));
    return v;
}
__device__ __forceinline__ float4 load_now(const float4 *ptr) {
    const uint4 v = load_now(reinterpret_cast<const uint4 *>(ptr));
    return make_float4(__uint_as_float(v.x), __uint_as_float(v.y), __uint_as_float(v.z),
                       __uint_as_float(v.w));
}

// The record a merge CTA completes, if any: kDefer records are the stream's (DeviceStream::id),
// kInstall ones the workspace's. Every split has read the pending query by the merge, so the
// staged one replaces it: loaded with the split states, to keep it off the CTA's path.
struct MergeRecord {
    bool completes = false, moves = false;
    PendingRef rec{};
    uint4 staged{};

    template <int D, bool kRecord>
    __device__ __forceinline__ void find(const DecodeParams &p, const DeviceStream &st, int sid) {
        static_assert(kMergeMaxRows * D / 8 <= kMergeThreads,
                      "one 16-byte chunk of the query each");
        completes = kRecord && blockIdx.x == 0 && (!p.records_by_id || st.id >= 0);
        moves = completes && p.records_by_id && threadIdx.x < p.group * D / 8;
        if (completes)
            rec = pending_record(p.pending, p.record_bytes, p.records_by_id ? st.id : sid);
    }
    template <int D>
    __device__ __forceinline__ void load(const DecodeParams &p) {
        if (moves)
            staged =
                load_now(reinterpret_cast<const uint4 *>(rec.staging(p.group, D)) + threadIdx.x);
    }
    // After a barrier that published the group's lse.
    __device__ __forceinline__ void store(const float *lse, int group, int length,
                                          uint32_t epoch) const {
        if (!completes) return;
        const int tid = threadIdx.x;
        if (moves) reinterpret_cast<uint4 *>(rec.q())[tid] = staged;
        if (tid < group) rec.lse()[tid] = lse[tid];
        if (tid == 0) store_header(rec, length, epoch);
    }
};

// Both kernels' lse, a warp's rows at a time: row lo + warp + kMergeWarps * j, split
// lane + 32 * k in v[j][k].
struct MergeLse {
    static constexpr int kRows = kMergeMaxRows / kMergeWarps, kPerLane = kMergeMaxSplits / 32;
    float v[kRows][kPerLane];

    __device__ __forceinline__ void load(const float *part_lse, int group, int lo, int hi,
                                         int n_splits) {
        const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
        for (int j = 0; j < kRows; ++j)
#pragma unroll
            for (int k = 0; k < kPerLane; ++k) {
                const int row = lo + warp + kMergeWarps * j, s = lane + 32 * k;
                v[j][k] = row < hi && s < n_splits ? part_lse[s * group + row] : -CUDART_INF_F;
            }
    }

    // lse of rows [lo, hi) into lse, and for the CTA's rows [row0, row0 + rows) among them each
    // split's weight 2^(lse_split - lse) into weight[split * rows + row - row0].
    __device__ __forceinline__ void finish(float *lse, float *weight, int lo, int hi, int row0,
                                           int rows, int n_splits) const {
        const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
        for (int j = 0; j < kRows; ++j) {
            const int row = lo + warp + kMergeWarps * j;
            if (row >= hi) break;  // warp-uniform
            float mx = -CUDART_INF_F;
#pragma unroll
            for (int k = 0; k < kPerLane; ++k) mx = fmaxf(mx, v[j][k]);
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
            float sum = 0.0f;
#pragma unroll
            for (int k = 0; k < kPerLane; ++k)
                if (lane + 32 * k < n_splits) sum += ex2(v[j][k] - mx);
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            const float total = mx + __log2f(sum);
            if (lane == 0) lse[row] = total;
            if (row < row0 || row >= row0 + rows) continue;
#pragma unroll
            for (int k = 0; k < kPerLane; ++k) {
                const int s = lane + 32 * k;
                if (s < n_splits) weight[s * rows + row - row0] = ex2(v[j][k] - total);
            }
        }
    }
};

// What both kernels do once their first split states are in flight: the record's staged query
// loaded, the lse of the CTA's rows [row0, row0 + rows) (of the whole group where the CTA
// completes the record) and their weights into shared memory, and the record completed.
template <int D>
__device__ __forceinline__ void merge_weights(MergeRecord &record, const DecodeParams &p,
                                              const float *part_lse, int row0, int rows,
                                              int n_splits, int length, uint32_t epoch, float *lse,
                                              float *weight) {
    const int lo = record.completes ? 0 : row0, hi = record.completes ? p.group : row0 + rows;
    record.load<D>(p);
    MergeLse states;
    states.load(part_lse, p.group, lo, hi, n_splits);
    states.finish(lse, weight, lo, hi, row0, rows, n_splits);
    __syncthreads();
    record.store(lse, p.group, length, epoch);
}

template <int D, bool kRecord>
__global__ void __launch_bounds__(kMergeThreads)
    merge_row_kernel(const __grid_constant__ DecodeParams p) {
    constexpr int kParts = kMergeThreads / D;  // threads per output column, over the splits
    __shared__ float lse[kMergeMaxRows];
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
    float early[kMergeEarly];
#pragma unroll
    for (int i = 0; i < kMergeEarly; ++i) {
        const int s = part + i * kParts;
        early[i] =
            s < n_splits ? load_now(src + static_cast<int64_t>(s) * p.group * D + col) : 0.0f;
    }
    MergeRecord record;
    record.find<D, kRecord>(p, st, sid);
    merge_weights<D>(record, p, part_lse, row, 1, n_splits, length, st.epoch, lse, weight);
    float acc = 0.0f;
#pragma unroll
    for (int i = 0; i < kMergeEarly; ++i) {
        const int s = part + i * kParts;
        if (s < n_splits) acc += early[i] * weight[s];
    }
#pragma unroll 8
    for (int s = part + kMergeEarly * kParts; s < n_splits; s += kParts)
        acc += src[static_cast<int64_t>(s) * p.group * D + col] * weight[s];
    partial[tid] = acc;
    __syncthreads();
    if (part == 0) {
#pragma unroll
        for (int k = 1; k < kParts; ++k) acc += partial[k * D + col];
        p.out[seq * p.out_stride + (head_kv * p.group + row) * D + col] = __float2bfloat16_rn(acc);
    }
}

__device__ __forceinline__ void add_weighted(float4 &acc, const float4 &v, float w) {
    acc.x = fmaf(v.x, w, acc.x);
    acc.y = fmaf(v.y, w, acc.y);
    acc.z = fmaf(v.z, w, acc.z);
    acc.w = fmaf(v.w, w, acc.w);
}

// Threads take the CTA's rows as vectors of 4 columns, consecutive vectors on consecutive threads
// (whole lines of a split per warp), and the splits in `parts` interleaved sets, one per block of
// `lanes` threads, summed through shared memory at the end. Rows * splits <= kMergeMaxSplits
// (decode_merge).
template <int D, bool kRecord>
__global__ void __launch_bounds__(kMergeThreads)
    merge_vector_kernel(const __grid_constant__ DecodeParams p) {
    __shared__ float lse[kMergeMaxRows];
    __shared__ float weight[kMergeMaxSplits];  // [split][row]
    __shared__ float4 partial[kMergeThreads];
    const int tid = threadIdx.x, head_kv = blockIdx.y, seq = blockIdx.z;
    const int sid = seq * p.n_head_kv + head_kv;
    const int row0 = blockIdx.x * p.merge_rows, rows = min(p.merge_rows, p.group - row0);
    allow_dependents();  // the next kernel's CTAs may launch (and wait for this one)
    const DeviceStream st = p.streams[sid];
    const int length = min(st.length, p.max_length);
    const int n_splits = stream_splits(st, length, p.chunk, p.n_splits, p.q8_tile).count;
    const int64_t first = static_cast<int64_t>(sid) * p.n_splits;  // the stream's first state
    // Vector v of the CTA's rows in split s: src[s * stride + v].
    const int stride = p.group * D / 4, vectors = rows * D / 4;
    const float4 *src = reinterpret_cast<const float4 *>(p.part_o + (first * p.group + row0) * D);
    const int lanes = min(p.merge_rows * D / 4, kMergeThreads), parts = kMergeThreads / lanes;
    const int part = tid / lanes, lane_v = tid % lanes;
    MergeRecord record;
    record.find<D, kRecord>(p, st, sid);
    grid_dependency_wait();
    // Addresses clamped into the stream's states (p.n_splits of them, whatever it holds); the sums
    // below use only the splits that hold keys.
    float4 early[kMergeEarly];
#pragma unroll
    for (int i = 0; i < kMergeEarly; ++i) {
        const int s = min(part + i * parts, p.n_splits - 1), v = min(lane_v, vectors - 1);
        early[i] = load_now(src + static_cast<int64_t>(s) * stride + v);
    }
    merge_weights<D>(record, p, p.part_lse + first * p.group, row0, rows, n_splits, length,
                     st.epoch, lse, weight);
    // Rounds of `lanes` vectors: a second one only for groups of 9-16 heads at head_dim 128.
    for (int base = 0; base < vectors; base += lanes) {
        const int v = base + lane_v, row = min(v, vectors - 1) * 4 / D;
        const bool valid = part < parts && v < vectors;
        float4 acc = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
        for (int i = 0; i < kMergeEarly; ++i) {
            const int s = part + i * parts;
            if (valid && s < n_splits)
                add_weighted(acc, base == 0 ? early[i] : src[static_cast<int64_t>(s) * stride + v],
                             weight[s * rows + row]);
        }
#pragma unroll 4
        for (int s = part + kMergeEarly * parts; valid && s < n_splits; s += parts)
            add_weighted(acc, src[static_cast<int64_t>(s) * stride + v], weight[s * rows + row]);
        if (parts > 1) {
            partial[tid] = acc;
            __syncthreads();
            if (part == 0)
                for (int k = 1; k < parts; ++k)
                    add_weighted(acc, partial[k * lanes + lane_v], 1.0f);
        }
        if (valid && part == 0) {
            const __nv_bfloat162 lo2 = __floats2bfloat162_rn(acc.x, acc.y);
            const __nv_bfloat162 hi2 = __floats2bfloat162_rn(acc.z, acc.w);
            uint2 packed;
            packed.x = *reinterpret_cast<const uint32_t *>(&lo2);
            packed.y = *reinterpret_cast<const uint32_t *>(&hi2);
            *reinterpret_cast<uint2 *>(p.out + seq * p.out_stride + (head_kv * p.group + row0) * D +
                                       4 * v) = packed;
        }
        if (parts > 1) __syncthreads();  // partial is written again by the next round
    }
}

}  // namespace cab::cuda::attn
