// Executor::kv_copy_blocks and kv_quantize_blocks on the CPU: whole blocks (K, V, scores) copied
// with memcpy, or quantized row by row into 8-bit blocks of the pool's q8_type.
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_executor.h"
#include "backend/cpu/kv_rows.h"
#include "backend/kv_copy_check.h"

namespace cab::cpu {

namespace {

// Blocks per task: a block of SmolLM2 (16 slots, head_dim 64, F32) is 8 KiB of K/V.
constexpr int64_t kBlocksPerTask = 32;

}  // namespace

void CpuExecutor::kv_copy_blocks(const KvPoolRef &pool, const int32_t *src, const int32_t *dst,
                                 int32_t n) {
    require_dense(pool.storage, "kv_copy_blocks", "the KV pool storage");
    require_dense(pool.scores, "kv_copy_blocks", "the KV pool scores");
    require_dense(pool.storage_q8, "kv_copy_blocks", "the KV pool's 8-bit storage");
    check_kv_copy_blocks(pool, src, dst, n, "kv_copy_blocks");
    // A block is 2 * block_size contiguous rows of its storage (K then V), with as many scales
    // for an 8-bit block, and kScoreKinds contiguous rows of scores.
    const size_t rows = 2 * static_cast<size_t>(pool.block_size);
    const size_t kv_bytes = rows * pool.storage.row_bytes();
    const size_t q8_bytes = rows * static_cast<size_t>(pool.head_dim);
    const size_t score_bytes =
        pool.scores.empty() ? 0 : kScoreKinds * static_cast<size_t>(pool.scores.row_bytes());
    auto *kv = static_cast<char *>(pool.storage.data());
    auto *q8 = static_cast<char *>(pool.storage_q8.data());
    auto *scales = pool.scales_q8.empty() ? nullptr : pool.scales_q8.as<float>();
    auto *scores = pool.scores.empty() ? nullptr : static_cast<char *>(pool.scores.data());
    pool_.parallel_for(n, kBlocksPerTask, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            if (pool.is_q8(src[i])) {
                const int64_t s = src[i] - pool.first_q8, d = dst[i] - pool.first_q8;
                std::memcpy(q8 + d * q8_bytes, q8 + s * q8_bytes, q8_bytes);
                std::memcpy(scales + d * rows, scales + s * rows, rows * sizeof(float));
            } else {
                std::memcpy(kv + dst[i] * kv_bytes, kv + src[i] * kv_bytes, kv_bytes);
            }
            if (scores)
                std::memcpy(scores + dst[i] * score_bytes, scores + src[i] * score_bytes,
                            score_bytes);
        }
    });
}

void CpuExecutor::kv_quantize_blocks(const KvPoolRef &pool, const int32_t *src, const int32_t *dst,
                                     int32_t n) {
    require(!pool.storage_q8.empty(), CAB_ERR_INVALID_ARGUMENT,
            "kv_quantize_blocks: the pool has no 8-bit blocks");
    require_dense(pool.storage, "kv_quantize_blocks", "the KV pool storage");
    require_dense(pool.scores, "kv_quantize_blocks", "the KV pool scores");
    require_dense(pool.storage_q8, "kv_quantize_blocks", "the KV pool's 8-bit storage");
    check_kv_copy_blocks(pool, src, dst, n, "kv_quantize_blocks", true);
    const int64_t rows = 2 * int64_t{pool.block_size}, d = pool.head_dim;
    const size_t score_bytes =
        pool.scores.empty() ? 0 : kScoreKinds * static_cast<size_t>(pool.scores.row_bytes());
    auto *scores = pool.scores.empty() ? nullptr : static_cast<char *>(pool.scores.data());
    const bool fp8 = pool.q8_type == Q8Type::Fp8E4M3;
    pool_.parallel_for(n, kBlocksPerTask, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            const float *from = pool.storage.as<float>() + src[i] * rows * d;
            const int64_t to = (dst[i] - pool.first_q8) * rows;
            for (int64_t r = 0; r < rows; ++r)
                pool.scales_q8.as<float>()[to + r] =
                    fp8 ? quantize_row_fp8(from + r * d, d,
                                           pool.storage_q8.as<uint8_t>() + (to + r) * d)
                        : quantize_row_q8(from + r * d, d,
                                          pool.storage_q8.as<int8_t>() + (to + r) * d);
            if (scores)
                std::memcpy(scores + dst[i] * score_bytes, scores + src[i] * score_bytes,
                            score_bytes);
        }
    });
}

}  // namespace cab::cpu
