#include "kv_memory.h"

#include <algorithm>

namespace cab_eval {

namespace {

int64_t blocks_for(int64_t tokens, int64_t block_size) {
    return (tokens + block_size - 1) / block_size;
}

}  // namespace

int64_t full_precision_tail(int64_t length, int32_t recent, int64_t block_size) {
    // KvCache::quantize converts the blocks before block floor((length - recent) / B).
    return length - std::max<int64_t>(0, length - recent) / block_size * block_size;
}

QuantizedBudget quantized_budget(const BudgetSpec &memory, int64_t length, int32_t recent,
                                 const KvGeometry &kv) {
    const int64_t b = kv.block_size;
    const int64_t evicted_to = memory.tokens_kept(length);
    const int64_t bytes = blocks_for(evicted_to, b) * kv.full_block_bytes();
    const int64_t tail = full_precision_tail(length, recent, b);
    const int64_t tail_bytes = blocks_for(tail, b) * kv.full_block_bytes();
    QuantizedBudget out;
    if (tail_bytes > bytes) {
        out.tokens = static_cast<int32_t>(evicted_to);
        return out;
    }
    const int64_t q8_blocks =
        std::min((bytes - tail_bytes) / kv.q8_block_bytes(), (length - tail) / b);
    out.tokens = static_cast<int32_t>(tail + q8_blocks * b);
    out.recent = static_cast<int32_t>(tail);
    return out;
}

double memory_share(const cab_kv_stats &held, int64_t dense_blocks, const KvGeometry &kv) {
    const double dense = static_cast<double>(dense_blocks) * kv.full_block_bytes();
    const double bytes =
        static_cast<double>(held.q8_bytes_used) +
        static_cast<double>(held.blocks_used) * static_cast<double>(kv.full_block_bytes());
    return dense > 0.0 ? bytes / dense : 0.0;
}

}  // namespace cab_eval
