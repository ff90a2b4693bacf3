// Executor::kv_copy_blocks on the CPU: whole blocks (K, V, scores) copied with memcpy.
#include <cstring>

#include "backend/cpu/cpu_executor.h"
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
    check_kv_copy_blocks(pool, src, dst, n, "kv_copy_blocks");
    // A block is 2 * block_size contiguous rows of storage (K then V) and kScoreKinds
    // contiguous rows of scores.
    const size_t kv_bytes = 2 * static_cast<size_t>(pool.block_size) * pool.storage.row_bytes();
    const size_t score_bytes =
        pool.scores.empty() ? 0 : kScoreKinds * static_cast<size_t>(pool.scores.row_bytes());
    auto *kv = static_cast<char *>(pool.storage.data());
    auto *scores = pool.scores.empty() ? nullptr : static_cast<char *>(pool.scores.data());
    pool_.parallel_for(n, kBlocksPerTask, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
            std::memcpy(kv + dst[i] * kv_bytes, kv + src[i] * kv_bytes, kv_bytes);
            if (scores)
                std::memcpy(scores + dst[i] * score_bytes, scores + src[i] * score_bytes,
                            score_bytes);
        }
    });
}

}  // namespace cab::cpu
