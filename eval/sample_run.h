// One sample on a context: prefill once, copy the cache for every (policy, budget) cell, evict
// each copy, then decode the dense reference and every cell together, greedily, in batched steps.
#pragma once

#include <cstdint>
#include <vector>

#include "cab/cab.h"
#include "config.h"
#include "model_text.h"

namespace cab_eval {

struct CellOutcome {
    std::vector<cab_token> tokens;  // generated, without the end-of-generation token
    double kept_tokens = 0.0;       // tokens kept per (layer, kv head) stream, on average
    double evict_seconds = 0.0;     // copying the prompt's cache and evicting
};

struct SampleOutcome {
    double prefill_seconds = 0.0;
    double decode_seconds = 0.0;  // all batched decode steps, every sequence together
    CellOutcome dense;
    std::vector<CellOutcome> cells;
};

// How a sample's prompt goes in before the cells are evicted.
struct PrefillPlan {
    // In (0, prompt size): the prompt is prefilled in two calls, the question
    // [question_start, end) last, so that its queries alone are the window score (when the
    // context's score_window covers it). 0: one call.
    size_t question_start = 0;
    // Delayed eviction: the dense sequence answers `delay` tokens first; the cells start from a
    // prefill of the prompt with those tokens appended to its last chunk (the question's), so
    // that the window score holds the attention of the answer's first tokens too.
    int32_t delay = 0;
};

// Sequence 0 takes the prompt (no eviction) and is the dense reference; cells[i] runs on
// sequence i + 1, a cab_seq_copy of sequence 0 made right after the prefill (or, with a delay,
// of a scratch sequence: the last one), so every cell starts from the same logits: the first
// answer token (the first delay + 1 tokens) comes from the full prompt, and eviction acts from
// the next on. Each sequence stops at an end-of-generation token or after max_new_tokens tokens.
// Needs n_seq_max > cells.size() (+ 1 with a delay) and the KV room of kv_tokens_needed; the
// sequences it used are empty again when it returns (or throws).
SampleOutcome run_sample(cab_ctx *ctx, const ModelText &text, const std::vector<cab_token> &prompt,
                         const PrefillPlan &plan, const std::vector<cab_evict_params> &cells,
                         int32_t max_new_tokens);

// KV capacity (tokens per stream, the cab_ctx_params unit) that run_sample needs for a prompt
// of `prompt_tokens`: the dense sequence and its answer, one full copy while a cell is evicted,
// and every cell's budget plus its answer, each rounded up to whole blocks; with a delay, the
// scratch sequence (prompt + delay) too.
int64_t kv_tokens_needed(int64_t prompt_tokens, int32_t max_new_tokens,
                         const std::vector<BudgetSpec> &cell_budgets, int32_t block_size,
                         int32_t delay = 0);

}  // namespace cab_eval
