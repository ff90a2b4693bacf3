// Deferred decode scores: the per-stream record a decode step leaves for the next one (the
// scores of DESIGN.md section 4, deferred on the GPU). A key's probability under the step's
// query needs the log-sum-exp over every split, known only after the merge; instead of storing
// every probability for the merge to rescale (4 bytes per key and query head, written and read
// again), the step keeps its query and final log-sum-exp here, and the next step's decode
// kernel, which reads every key anyway, computes that query's exact probabilities in the spare
// rows of its m16 tile and adds them to the accumulators. settle() applies a record on its own
// (before anything reads, moves or copies the scores). Plain C++: the host sizes the records.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cab::cuda::attention {

// Query heads per kv head whose deferred query fits the spare rows 8..15 of the decode tile.
constexpr int kPendingMaxGroup = 8;

// One record: header, lse[16] (the log2-sum-exp of each head), the pending query's bf16 rows
// q[group][head_dim], then as many rows of staging: a decode of several splits stores its query
// there, as its other splits may still be reading the pending one, and its merge, which runs once
// they are all done, moves it into place. No field's address depends on another's value, so a
// decode kernel issues every load of the record at its start.
struct PendingHeader {
    int32_t keys;    // slots the pending query saw (a prefix of the stream); 0: none pending
    uint32_t epoch;  // DeviceStream::epoch when it was written: a reset stream's is stale
    int32_t unused[2];
};

constexpr size_t kPendingLseOffset = sizeof(PendingHeader);
constexpr size_t kPendingQOffset = kPendingLseOffset + 16 * sizeof(float);

inline size_t pending_q_bytes(int group, int head_dim) {
    return static_cast<size_t>(group) * static_cast<size_t>(head_dim) * 2;
}

// Bytes of one record (a multiple of 16, so that records and their query rows stay aligned for
// 16-byte copies).
inline size_t pending_record_size(int group, int head_dim) {
    return (kPendingQOffset + 2 * pending_q_bytes(group, head_dim) + 15) / 16 * 16;
}

// The group of a record of record_bytes (pending_record_size's inverse).
inline int pending_group(size_t record_bytes, int head_dim) {
    return record_bytes > kPendingQOffset ? static_cast<int>((record_bytes - kPendingQOffset) /
                                                             (4 * static_cast<size_t>(head_dim)))
                                          : 0;
}

}  // namespace cab::cuda::attention
