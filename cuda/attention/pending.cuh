// Device side of deferred decode scores (pending.h): the record's fields, and how a warp adds a
// pending query's probabilities for its keys to their accumulators.
#pragma once

#include "attention/page.cuh"
#include "attention/pending.h"

namespace cab::cuda::attn {

using attention::PendingHeader;

struct PendingRef {
    char *record;

    __device__ __forceinline__ float *lse() const {
        return reinterpret_cast<float *>(record + attention::kPendingLseOffset);
    }
    __device__ __forceinline__ bf16 *q() const {
        return reinterpret_cast<bf16 *>(record + attention::kPendingQOffset);
    }
    __device__ __forceinline__ bf16 *staging(int group, int d) const {
        return q() + static_cast<int64_t>(group) * d;
    }
};

__device__ __forceinline__ PendingRef pending_record(void *base, int64_t record_bytes,
                                                     int64_t index) {
    return {static_cast<char *>(base) + index * record_bytes};
}

// The header as written by an earlier kernel (through L2).
__device__ __forceinline__ PendingHeader load_header(const PendingRef &r) {
    const int4 h = __ldcg(reinterpret_cast<const int4 *>(r.record));
    return {h.x, static_cast<uint32_t>(h.y), {h.z, h.w}};
}

__device__ __forceinline__ void store_header(const PendingRef &r, int keys, uint32_t epoch) {
    *reinterpret_cast<int4 *>(r.record) = make_int4(keys, static_cast<int>(epoch), 0, 0);
}

// Keys of the stream that a record's query still has to be applied to: none when nothing is
// pending or the record is older than the stream (a reset), else its prefix that still exists
// (`limit`: the slots before this step's appends; a truncation may have dropped some).
__device__ __forceinline__ int pending_keys(const PendingHeader &h, uint32_t epoch, int limit) {
    return h.keys > 0 && h.epoch == epoch ? min(h.keys, limit) : 0;
}

// Adds a pending query's probabilities to the accumulators of the warp's keys key0 + frag_key
// (NT 8-key tiles): v[nt][c] holds this thread's share of key frag_key(nt, c) (its rows'
// probabilities); the shares are summed over the warp's 8 row groups, then 2 * NT lanes each
// finish one key by reductions in L2 (no load: each key has one owner, so they never contend).
// `last` is written only with kLast: only settle writes it, as the query it applies is then the
// stream's latest; a decode step applies an older one (every read of the scores settles first).
template <int NT, bool kLast>
__device__ __forceinline__ void settle_warp_keys(float (&v)[NT][2], const PagedKv &kv,
                                                 const int32_t *blocks, int key0, int pend,
                                                 int lane) {
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int c = 0; c < 2; ++c)
#pragma unroll
            for (int o = 4; o < 32; o <<= 1) v[nt][c] += __shfl_xor_sync(0xffffffffu, v[nt][c], o);
    const int r = lane >> 2;  // which of the thread's 2 * NT keys it finishes
    if (r >= 2 * NT) return;
    float sum = 0.0f;
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
        for (int c = 0; c < 2; ++c)
            if (r == 2 * nt + c) sum = v[nt][c];
    const int key = key0 + (r >> 1) * 8 + 2 * (lane & 3) + (r & 1);
    if (key >= pend) return;
    float *slot = slot_scores(kv, blocks, key);
    const int pitch = 1 << kv.block_shift;  // floats between two kinds of a slot
    atomicAdd(slot + kScoreRow * pitch, sum);
    atomicAdd(slot + kObserversRow * pitch, 1.0f);
    if constexpr (kLast) slot[kLastRow * pitch] = sum;
}

}  // namespace cab::cuda::attn
