// Eviction of one sequence's KV cache (DESIGN.md sections 3 and 5): per-stream budgets from the
// allocation, a keep-set per stream (or per layer, shared by its heads) from the policy, then
// compaction, which returns the freed tail blocks to the pool.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "policy/budget.h"
#include "policy/budget_spec.h"
#include "policy/policy.h"

namespace cab {

class KvCache;
class Executor;

struct EvictOptions {
    // A registry singleton (find_policy); null with `quantize` alone (nothing is evicted).
    const Policy *policy = nullptr;
    // First move every stream's full blocks older than its last quantize_recent slots to int8
    // blocks (KvCache::quantize), then evict by `policy`.
    bool quantize = false;
    int32_t quantize_recent = 64;
    BudgetSpec budget;  // tokens per stream, or a share of each stream's length
    // cab_score_source also says which score h2o ranks by: `window` makes it question-aware.
    PolicyParams params;
    // Select once per layer on the sum of its heads' scores and keep the same slots in every
    // head (needs the heads to hold the same tokens); otherwise every stream selects alone.
    bool shared_per_layer = false;
    AllocationParams allocation;
};

struct EvictResult {
    int64_t tokens_before = 0;  // summed over the sequence's streams
    int64_t tokens_kept = 0;
    int64_t blocks_freed = 0;  // both types, net of the int8 blocks quantizing took
    uint64_t bytes_freed = 0;
    int64_t tokens_quantized = 0;
};

// Whether the policy ranks by the observation window (the last queries of the latest prefill
// chunk): snapkv, chunkkv, and h2o / cab / cab-frc with the window score source. Such a policy
// should evict after the chunk that ends the prompt, when the window holds the question.
bool question_aware(const EvictOptions &options);

// The selection of sequence `seq` as keep plans, one per unit (stream, or layer when
// shared_per_layer), when the policy states its rule as one and the budgets need no scores:
// evict_sequence then runs them where the scores are (KvCache::select). nullopt otherwise (random,
// cab-frc, snapkv's layer inheritance, adaptive allocation). options.policy must be set. Throws
// as Policy::keep_plan.
std::optional<std::vector<KeepPlan>> keep_plans(const KvCache &kv, int32_t seq,
                                                const EvictOptions &options);

// Evicts sequence `seq` of `kv` down to the budget. Positions are untouched: the sequence's
// next token still takes its next position. An empty sequence is a no-op. Policies without a
// keep plan select on the host, each unit's selection on one of up to `threads` threads (the
// context's; cab-frc's, which read keys, one at a time), all before the first compaction. Throws
// Error(INVALID_ARGUMENT) for bad options or a score the policy needs that the cache does not
// keep, Error(STATE) for shared selection over heads that hold different tokens.
EvictResult evict_sequence(KvCache &kv, Executor &executor, int32_t seq,
                           const EvictOptions &options, int32_t threads = 1);

}  // namespace cab
