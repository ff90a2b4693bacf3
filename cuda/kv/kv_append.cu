// KV append: a grid-stride loop over (chunk, head, row, K/V) of the step's rows, each a 16-byte
// copy (or a 2-byte one when head_dim or the row stride is not a multiple of 8, or a pointer is
// not 16-byte aligned) into the pool block that holds the row's slot; the rows of int8 blocks go
// through kv_q8.cuh's append_q8, which quantizes them.
#include <algorithm>
#include <cstdint>
#include <string>

#include "attention/launch.h"
#include "kv/kv_append.cuh"
#include "kv/kv_q8.cuh"
#include "util/error.h"

namespace cab::cuda::kv {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65536;

// Chunk: uint4 (8 bf16) or uint16_t (1 bf16); per_row chunks make one head's row, and rows of
// k and v are stride chunks apart.
template <class Chunk>
__global__ void append_kernel(DevicePool pool, Chunk *data, const DeviceStream *streams,
                              int32_t n_head_kv, int32_t rows_per_seq, int64_t rows,
                              int32_t per_row, const Chunk *k, const Chunk *v, int64_t stride) {
    const int64_t units = rows * n_head_kv * per_row * 2;
    const int32_t bs = pool.block_size;
    for (int64_t u = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; u < units;
         u += static_cast<int64_t>(gridDim.x) * kThreads) {
        // K before V and the chunk fastest, so a warp reads consecutive bytes of k or v.
        const int32_t chunk = static_cast<int32_t>(u % per_row);
        int64_t t = u / per_row;
        const int32_t h = static_cast<int32_t>(t % n_head_kv);
        t /= n_head_kv;
        const int64_t row = t % rows;
        const int32_t value = static_cast<int32_t>(t / rows);
        const int32_t seq = static_cast<int32_t>(row / rows_per_seq);
        const int32_t r = static_cast<int32_t>(row % rows_per_seq);
        const DeviceStream s = streams[static_cast<int64_t>(seq) * n_head_kv + h];
        const int32_t slot = s.length - rows_per_seq + r;
        // A stream shorter than rows_per_seq breaks the caller's contract; writing nothing keeps
        // that from landing in other streams' blocks.
        if (slot < 0) continue;
        const int64_t block = s.blocks[slot / bs];
        if (!is_q8_block(pool, block)) {  // append_q8 writes the rows of int8 blocks
            const int64_t pool_row = (block * 2 + value) * bs + slot % bs;
            const Chunk *src = value ? v : k;
            data[pool_row * per_row + chunk] = src[row * stride + int64_t{h} * per_row + chunk];
        }
        if (pool.scores && value == 0 && chunk == 0) {
            for (int32_t kind = 0; kind < kScoreKinds; ++kind)
                *score_at(pool, s.blocks, kind, slot) = 0.0f;
        }
    }
}

bool aligned16(const void *p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

template <class Chunk>
void launch(const DevicePool &pool, const DeviceStream *streams, int32_t n_head_kv,
            int32_t rows_per_seq, int64_t rows, const void *k, const void *v, int64_t kv_stride,
            cudaStream_t stream) {
    constexpr int64_t kPerChunk = sizeof(Chunk) / 2;  // bf16 elements
    const int32_t per_row = static_cast<int32_t>(pool.head_dim / kPerChunk);
    const int64_t units = rows * n_head_kv * per_row * 2;
    const auto blocks =
        static_cast<unsigned>(std::min<int64_t>((units + kThreads - 1) / kThreads, kMaxBlocks));
    // DevicePool::data is const for the attention kernels, which only read it; appending is the
    // one place that writes K/V.
    append_kernel<Chunk><<<blocks, kThreads, 0, stream>>>(
        pool, static_cast<Chunk *>(const_cast<void *>(pool.data)), streams, n_head_kv, rows_per_seq,
        rows, per_row, static_cast<const Chunk *>(k), static_cast<const Chunk *>(v),
        kv_stride / kPerChunk);
}

}  // namespace

void append(const DevicePool &pool, const DeviceStream *streams, int32_t n_seqs, int32_t n_head_kv,
            int32_t rows_per_seq, const void *k, const void *v, int64_t kv_stride,
            cudaStream_t stream) {
    const std::string name = "kv append: ";
    require(pool.block_size > 0, CAB_ERR_INVALID_ARGUMENT,
            name + "pool.block_size " + std::to_string(pool.block_size) + " <= 0");
    require(pool.head_dim > 0, CAB_ERR_INVALID_ARGUMENT,
            name + "pool.head_dim " + std::to_string(pool.head_dim) + " <= 0");
    require(pool.data, CAB_ERR_INVALID_ARGUMENT, name + "null pool.data");
    require(n_seqs >= 0, CAB_ERR_INVALID_ARGUMENT,
            name + "n_seqs " + std::to_string(n_seqs) + " < 0");
    require(n_head_kv > 0, CAB_ERR_INVALID_ARGUMENT,
            name + "n_head_kv " + std::to_string(n_head_kv) + " <= 0");
    require(rows_per_seq >= 0, CAB_ERR_INVALID_ARGUMENT,
            name + "rows_per_seq " + std::to_string(rows_per_seq) + " < 0");
    require(kv_stride >= int64_t{n_head_kv} * pool.head_dim, CAB_ERR_INVALID_ARGUMENT,
            name + "kv_stride " + std::to_string(kv_stride) + " < n_head_kv * head_dim " +
                std::to_string(int64_t{n_head_kv} * pool.head_dim));
    const int64_t rows = static_cast<int64_t>(n_seqs) * rows_per_seq;
    if (rows == 0) return;
    require(streams && k && v, CAB_ERR_INVALID_ARGUMENT, name + "null streams, k or v");
    if (pool.head_dim % 8 == 0 && kv_stride % 8 == 0 && aligned16(pool.data) && aligned16(k) &&
        aligned16(v))
        launch<uint4>(pool, streams, n_head_kv, rows_per_seq, rows, k, v, kv_stride, stream);
    else
        launch<uint16_t>(pool, streams, n_head_kv, rows_per_seq, rows, k, v, kv_stride, stream);
    attention::check_launch("kv append");
    if (pool.q8)
        append_q8(pool, streams, n_head_kv, rows_per_seq, rows, k, v, kv_stride, nullptr, false,
                  stream);
}

}  // namespace cab::cuda::kv
