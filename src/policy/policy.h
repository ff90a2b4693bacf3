// Eviction policies (DESIGN.md section 5): pure functions from one stream's per-slot scores and
// a budget to the sorted slots to keep. They know nothing of the cache, the backend or threads;
// the runtime gathers each stream's metadata into a StreamScores, calls select, and compacts.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "policy/keep_plan.h"

namespace cab {

// Read-only views over ONE stream's per-slot metadata, each `n` long, in cache order (slot order
// = causal order). Fields a policy does not read may be null; a policy that needs a missing field
// throws Error(INVALID_ARGUMENT) naming it. Scores must not be NaN (INVALID_ARGUMENT).
struct StreamScores {
    int32_t n = 0;
    // Original token positions, strictly increasing. Optional: policies work on slot order, and
    // check the order when it is given.
    const int32_t *positions = nullptr;
    // Sum of the softmax probabilities every query (and every query head of the GQA group) gave
    // the slot since it entered the cache.
    const float *score = nullptr;
    // How many queries could see the slot (causal), as f32: exact up to 2^24 queries.
    const float *observers = nullptr;
    // `score` restricted to the last W queries of the latest prefill chunk (the question, when
    // the prompt ends with one).
    const float *window = nullptr;
    // The probability the most recent query gave the slot, summed over the group's query heads.
    const float *last = nullptr;
    // Keys after RoPE, [n][head_dim] row-major; only cab-frc reads them.
    const float *keys = nullptr;
    int32_t head_dim = 0;
    // Instead of keys, cab-frc may be given what it makes of them: key_means (policy/key_means.h)
    // over runs of key_run slots, [run_count(n, key_run)][head_dim]. key_run must be the run
    // length cab-frc pools by (frc_run_length).
    const float *key_means = nullptr;
    int32_t key_run = 0;
};

enum class ScoreSource { Cumulative, Window };

// Knobs shared by all policies; each policy reads the ones it names. validate() checks them all.
struct PolicyParams {
    int32_t n_sinks = 4;   // first slots, always kept (attention sinks)
    int32_t n_recent = 0;  // most recent slots, always kept; 0 = only the policy's own recency rule
    uint64_t seed = 0;     // `random`; mixed with the per-stream seed

    bool h2o_normalize = false;     // rank by score / observers (mean attention) instead of sum
    float h2o_recent_ratio = 0.2f;  // share of the budget given to the most recent slots

    int32_t snapkv_window = 32;  // W: observation window, the last W slots, always kept
    int32_t snapkv_kernel = 7;   // odd max-pool width along slots
    int32_t snapkv_shift = 0;    // 0 .. snapkv_kernel / 2: the pool window moves this far back
    // snapkv: share of the layers, from the first, whose streams rank by the deeper layers'
    // window score instead of their own (policy/inherit.h); 0 = off, below 1. A cross-stream
    // rule: the runtime applies it (select_on_host), per-stream select never reads it.
    float snapkv_inherit = 0.0f;

    float r_local = 0.3f;   // cab: share of the budget for the most recent slots
    float r_bridge = 0.2f;  // cab: share for bridges; importance gets the rest
    ScoreSource cab_score_source = ScoreSource::Cumulative;

    int32_t frc_block = 16;        // cab-frc: slots pooled into one graph node
    int32_t frc_max_blocks = 128;  // cab-frc: larger streams use bigger blocks (cost ~ nodes^3)

    int32_t chunk_size = 16;  // chunkkv: slots per aligned chunk, ranked and kept as a whole
};

// Throws Error(INVALID_ARGUMENT) naming the first bad field: negative counts, ratios outside
// [0, 1], r_local + r_bridge > 1, an even or < 1 kernel, a shift outside [0, kernel / 2], a
// window, block or chunk size < 1.
void validate(const PolicyParams &params);

class Policy {
public:
    virtual ~Policy() = default;
    virtual std::string_view name() const = 0;

    // Returns the slots to keep, ascending, exactly min(budget, n) of them (except `full`, which
    // keeps all). budget >= n keeps all; budget 0 keeps none, sinks included. Every policy but
    // `full` and `random` first keeps the protected slots: the first n_sinks and the last
    // n_recent; they count against the budget, and when they alone exceed it the sinks are kept
    // first, then the most recent. The policy's own rule then picks k = budget - protected more
    // among the other slots. Ties go to the earlier slot. `stream_seed` distinguishes streams for
    // `random` (e.g. layer * n_head_kv + head). Throws Error(INVALID_ARGUMENT) for a negative
    // budget, bad params or a missing / malformed field.
    virtual std::vector<int32_t> select(const StreamScores &scores, int32_t budget,
                                        const PolicyParams &params, uint64_t stream_seed) const = 0;

    // The same selection for a stream of n slots stated as a KeepPlan, when the rule has that
    // form: apply_keep_plan(*keep_plan(n, budget, params), scores) equals select(scores, budget,
    // params, any seed) for every scores without NaN. nullopt when it has not (random,
    // cab-frc). Throws as select does for a negative budget or bad params.
    virtual std::optional<KeepPlan> keep_plan(int32_t n, int32_t budget,
                                              const PolicyParams &params) const {
        (void)n;
        (void)budget;
        (void)params;
        return std::nullopt;
    }
};

// The policy called `name` ("full", "random", "window", "h2o", "tova", "snapkv", "cab",
// "cab-frc", "chunkkv"), or nullptr. Policies are stateless singletons: the pointer lives forever
// and is safe to use from any thread.
const Policy *find_policy(std::string_view name);
// All policy names, in the order above.
const std::vector<std::string_view> &policy_names();

}  // namespace cab
