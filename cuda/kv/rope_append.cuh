// Host API of the fused RoPE + KV append kernel: what pos_enc::rope over q, rope over k and
// kv::append do one after the other, in one kernel. Plain C++ over device pointers; asynchronous
// on `stream`. Bad arguments throw cab::Error(INVALID_ARGUMENT), a failed launch
// cab::Error(DEVICE).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kv/paged.h"
#include "pos_enc.cuh"

namespace cab::cuda::kv {

// Where a step's keys and values go and how q and k rotate; shared with the QKV GEMV's RoPE
// epilogue (gemv.cuh). Row r of the step is row r % rows_per_seq of sequence r / rows_per_seq,
// whose kv head h is streams[seq * n_head_kv + h] (device memory, sequence-major, lengths
// counting the appended rows, as kv::append); it goes to slot length - rows_per_seq +
// r % rows_per_seq.
struct RopeTarget {
    DevicePool pool;
    const DeviceStream *streams = nullptr;
    int32_t rows_per_seq = 1;
    int32_t n_head = 0;
    int32_t n_head_kv = 0;
    const int32_t *positions = nullptr;  // device [rows]
    float theta = 10000.0f;
    float freq_scale = 1.0f;
    pos_enc::RopeStyle style = pos_enc::RopeStyle::Normal;
};

struct RopeAppendArgs {
    RopeTarget target;
    int32_t n_seqs = 0;
    // bf16 rows of the step (n_seqs * rows_per_seq of them), head h at column h * head_dim, rows
    // *_stride elements apart: q [n_head heads], rotated in place; k and v [n_head_kv heads], read
    // only (the cache gets k rotated).
    void *q = nullptr;
    int64_t q_stride = 0;
    const void *k = nullptr;
    int64_t k_stride = 0;
    const void *v = nullptr;
    int64_t v_stride = 0;
    // Launch with programmatic stream serialization: a unit's position, block table and angle are
    // read and computed before waiting for the kernel that wrote q, k and v, so that kernel must
    // not write them, and no copy of them may come between the two.
    bool pdl = true;
};

// Rotates q's heads in place with the angles and rounding of pos_enc::rope (bit for bit), writes
// k rotated the same way and v into slot length - rows_per_seq + r of their streams as
// kv::append does, and zeroes the four score kinds of every appended slot when pool.scores is
// set. head_dim (pool.head_dim) must be even and at most 256. A pool with int8 blocks then runs
// kv::append_q8 with its RoPE for the slots in them (two kernels).
void rope_append(const RopeAppendArgs &args, cudaStream_t stream);

}  // namespace cab::cuda::kv
