// KV memory as the harness counts it, so that quantize rows and eviction rows compare at equal
// memory (docs/QUALITY.md, "Int8 rows: budgets of memory"). Bytes are those of the blocks a
// sequence holds, with full-precision blocks counted at their BF16 size (the CUDA backend's KV
// type) on every device: the CPU keeps them in F32, and a share must not depend on the device.
#pragma once

#include <cstdint>

#include "cab/cab.h"
#include "config.h"

namespace cab_eval {

struct KvGeometry {
    int64_t head_dim = 0;
    int64_t block_size = 0;

    // A block's K and V rows in BF16.
    int64_t full_block_bytes() const { return 2 * block_size * head_dim * 2; }
    // A block's K and V rows in 8 bits (int8 or fp8: the same bytes), each with its F32 scale
    // (src/kv/quant_q8.h, KvCache::bytes_per_q8_block).
    int64_t q8_block_bytes() const { return 2 * block_size * (head_dim + 4); }
};

// The tokens of a stream of `length` that "quantize" leaves in full precision: its last
// `recent`, and the older ones that share a block with them (it moves whole blocks only).
int64_t full_precision_tail(int64_t length, int32_t recent, int64_t block_size);

// The evict budget of "quantize+<policy>" on streams of `length` tokens under a memory budget.
struct QuantizedBudget {
    int32_t tokens = 0;  // budget_tokens per stream
    int32_t recent = 0;  // n_recent: the full-precision tail, protected so that it stays whole
};

// The memory of `memory` is what pure eviction at that budget holds: M = ceil(n / B) BF16
// blocks for the n = memory.tokens_kept(length) tokens it keeps. quantize+<policy> keeps the
// whole full-precision tail f (full_precision_tail) and as many whole int8 blocks q as fit:
//   q = min(floor((M * full_block - ceil(f / B) * full_block) / q8_block), (length - f) / B)
// so tokens = f + q * B. Whole int8 blocks, because compaction quantizes the full-precision
// slots that land in a partly filled int8 block. When the tail alone is larger than the
// memory, the policy evicts to n tokens with nothing protected (holding no more than n BF16
// tokens, less where it keeps int8 ones).
QuantizedBudget quantized_budget(const BudgetSpec &memory, int64_t length, int32_t recent,
                                 const KvGeometry &kv);

// The KV bytes `held` (cab_kv_stats of one sequence) as a share of the bytes of `dense_blocks`
// full-precision blocks: the cache it was evicted from.
double memory_share(const cab_kv_stats &held, int64_t dense_blocks, const KvGeometry &kv);

}  // namespace cab_eval
