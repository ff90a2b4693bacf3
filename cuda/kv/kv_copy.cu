// Block copy: one CTA row (blockIdx.y) per copied block, grid-strided when there are more than
// the grid's y limit; its threads copy the block's K/V in 16-byte chunks (2 bytes when the pool
// is not 16-byte aligned or a block's K/V is not a multiple of 16 bytes) and its score rows in
// float4 (float when unaligned). A block's K/V, and its scores, are contiguous in the pool, so
// the copy is two flat, coalesced loops.
#include <algorithm>
#include <cstdint>
#include <string>

#include "attention/launch.h"
#include "kv/kv_copy.cuh"
#include "util/error.h"

namespace cab::cuda::kv {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGridY = 65535;
constexpr int64_t kMaxGridX = 64;

template <class KvChunk, class ScoreChunk>
__global__ void copy_blocks_kernel(KvChunk *kv, ScoreChunk *scores, const int32_t *src,
                                   const int32_t *dst, int32_t n, int64_t kv_chunks,
                                   int64_t score_chunks) {
    const int64_t first = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
    const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
    for (int64_t i = blockIdx.y; i < n; i += gridDim.y) {
        const int64_t from = src[i], to = dst[i];
        for (int64_t c = first; c < kv_chunks; c += stride)
            kv[to * kv_chunks + c] = kv[from * kv_chunks + c];
        if (scores)
            for (int64_t c = first; c < score_chunks; c += stride)
                scores[to * score_chunks + c] = scores[from * score_chunks + c];
    }
}

bool aligned16(const void *p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

template <class KvChunk, class ScoreChunk>
void launch(const DevicePool &pool, const int32_t *src, const int32_t *dst, int32_t n,
            int64_t kv_bytes, int64_t score_bytes, cudaStream_t stream) {
    const int64_t kv_chunks = kv_bytes / static_cast<int64_t>(sizeof(KvChunk));
    const int64_t score_chunks = score_bytes / static_cast<int64_t>(sizeof(ScoreChunk));
    const int64_t widest = std::max(kv_chunks, score_chunks);
    const dim3 grid(
        static_cast<unsigned>(std::min<int64_t>((widest + kThreads - 1) / kThreads, kMaxGridX)),
        static_cast<unsigned>(std::min<int64_t>(n, kMaxGridY)));
    // DevicePool::data is const for the attention kernels, which only read it.
    auto *kv = static_cast<KvChunk *>(const_cast<void *>(pool.data));
    auto *scores = reinterpret_cast<ScoreChunk *>(pool.scores);
    copy_blocks_kernel<KvChunk, ScoreChunk>
        <<<grid, kThreads, 0, stream>>>(kv, scores, src, dst, n, kv_chunks, score_chunks);
    attention::check_launch("kv copy_blocks");
}

template <class KvChunk>
void launch_scores(const DevicePool &pool, const int32_t *src, const int32_t *dst, int32_t n,
                   int64_t kv_bytes, int64_t score_bytes, cudaStream_t stream) {
    if (pool.scores == nullptr || aligned16(pool.scores))
        launch<KvChunk, float4>(pool, src, dst, n, kv_bytes, score_bytes, stream);
    else
        launch<KvChunk, float>(pool, src, dst, n, kv_bytes, score_bytes, stream);
}

}  // namespace

void copy_blocks(const DevicePool &pool, const int32_t *src, const int32_t *dst, int32_t n,
                 cudaStream_t stream) {
    const std::string name = "kv copy_blocks: ";
    require(n >= 0, CAB_ERR_INVALID_ARGUMENT, name + "n " + std::to_string(n) + " < 0");
    require(pool.block_size > 0 && pool.head_dim > 0, CAB_ERR_INVALID_ARGUMENT,
            name + "pool.block_size " + std::to_string(pool.block_size) + " and head_dim " +
                std::to_string(pool.head_dim) + " must be positive");
    if (n == 0) return;
    require(pool.data && src && dst, CAB_ERR_INVALID_ARGUMENT, name + "null pool.data, src or dst");
    // A block: K[block_size][head_dim] and V[block_size][head_dim] in bf16, then (elsewhere)
    // kScoreKinds rows of block_size floats. Score bytes are a multiple of 16.
    const int64_t kv_bytes = int64_t{2} * pool.block_size * pool.head_dim * 2;
    const int64_t score_bytes = int64_t{kScoreKinds} * pool.block_size * 4;
    if (kv_bytes % 16 == 0 && aligned16(pool.data))
        launch_scores<uint4>(pool, src, dst, n, kv_bytes, score_bytes, stream);
    else
        launch_scores<uint16_t>(pool, src, dst, n, kv_bytes, score_bytes, stream);
}

}  // namespace cab::cuda::kv
