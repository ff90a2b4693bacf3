// Host API of the KV kernels over int8 blocks (kv/quant_q8.h on the host: int8 rows, one F32
// scale per row, max|x| / 127, values rounded to nearest even): quantizing whole blocks,
// compacting a stream whose slots keep their types, copying int8 blocks, and the int8 rows of
// an append. One warp per row: its lanes share the row's max. The rounding is the CPU backend's
// operation for operation, so both backends store the same bytes for the same values. Plain C++
// over device pointers; asynchronous on `stream`; a failed launch throws cab::Error(DEVICE).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kv/paged.h"

namespace cab::cuda::kv {

// Quantizes bf16 blocks src[i] into int8 blocks dst[i] (K and V rows) and moves their scores,
// i < n; device arrays of distinct ids.
void quantize_blocks(const DevicePool &pool, const int32_t *src, const int32_t *dst, int32_t n,
                     cudaStream_t stream);

// Copies int8 blocks src[i] to int8 blocks dst[i] (bytes, scales and scores), i < n; device
// arrays of distinct ids.
void copy_q8_blocks(const DevicePool &pool, const int32_t *src, const int32_t *dst, int32_t n,
                    cudaStream_t stream);

// Scratch bytes compact_mixed() needs for n_keep slots (a multiple of 16).
size_t compact_mixed_scratch_bytes(const DevicePool &pool, int32_t n_keep);

// Executor::kv_compact_mixed (backend.h): slot i of the block table dst_blocks receives slot
// keep[i] of src_blocks with its K, V and scores, in the type of its new block (an int8 row
// moves as it is; a bf16 row into an int8 block is quantized). Device arrays; scratch of
// compact_mixed_scratch_bytes, through the gather into which any overlap of the two is safe.
void compact_mixed(const DevicePool &pool, const int32_t *src_blocks, const int32_t *dst_blocks,
                   const int32_t *keep, int32_t n_keep, void *scratch, cudaStream_t stream);

// Keys that reach append_q8 before their RoPE (the fused RoPE-append kernels leave it the rows
// of int8 slots): each K row is rotated as pos_enc::rope rotates it (positions[row], the angles of
// rope_freqs(theta, head_dim), NeoX pairs or adjacent ones) and rounded to bf16, so that the
// int8 row is the one rope then append_q8 would store.
struct Q8Rope {
    const int32_t *positions = nullptr;  // device [rows]
    float theta = 10000.0f;
    float freq_scale = 1.0f;
    bool neox = false;
};

// The rows of kv_append (kv_append.cuh, same arguments) whose slots lie in int8 blocks,
// quantized; kv_append writes the others. With `rope`, K rows are rotated first. pdl: launched
// as a programmatic dependent of the kernel that wrote k and v (it waits for it, and lets the
// next kernel launch early).
void append_q8(const DevicePool &pool, const DeviceStream *streams, int32_t n_head_kv,
               int32_t rows_per_seq, int64_t rows, const void *k, const void *v, int64_t kv_stride,
               const Q8Rope *rope, bool pdl, cudaStream_t stream);

}  // namespace cab::cuda::kv
