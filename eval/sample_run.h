// One sample on a context: prefill once, copy the cache for every (policy, budget) cell, evict
// each copy, then decode the dense reference and every cell together, greedily, in batched steps.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "cab/cab.h"
#include "config.h"
#include "model_text.h"

namespace cab_eval {

// One (policy, budget) cell of a sample.
struct CellSpec {
    cab_evict_params params;
    // quantize+<policy>: the budget is KV memory, and the token budget and n_recent of `params`
    // are set from the streams' length at eviction (quantized_budget, kv_memory.h).
    std::optional<BudgetSpec> memory;
};

struct CellOutcome {
    std::vector<cab_token> tokens;  // generated, without the end-of-generation token
    double kept_tokens = 0.0;       // tokens kept per (layer, kv head) stream, on average
    double quantized_tokens = 0.0;  // tokens moved to int8 blocks per stream, on average
    double memory_share = 1.0;      // KV bytes held after eviction over the dense cache's
                                    // (memory_share, kv_memory.h)
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
// Quantize cells need int8 blocks (kv_q8_tokens_needed).
SampleOutcome run_sample(cab_ctx *ctx, const ModelText &text, const std::vector<cab_token> &prompt,
                         const PrefillPlan &plan, const std::vector<CellSpec> &cells,
                         int32_t max_new_tokens);

// KV capacity (tokens per stream, the cab_ctx_params unit) that run_sample needs for a prompt
// of `prompt_tokens`: the dense sequence and its answer, one full copy while a cell is evicted,
// and every cell's budget plus its answer, each rounded up to whole blocks; with a delay, the
// scratch sequence (prompt + delay) too. A quantize cell's full-precision budget is its tail:
// quantize_tail_budget.
int64_t kv_tokens_needed(int64_t prompt_tokens, int32_t max_new_tokens,
                         const std::vector<BudgetSpec> &cell_budgets, int32_t block_size,
                         int32_t delay = 0);

// The most full-precision tokens a quantize cell keeps per stream (before its answer): its last
// `recent` tokens and the rest of their first block.
BudgetSpec quantize_tail_budget(int32_t recent, int32_t block_size);

// Int8 capacity (tokens per stream, cab_ctx_params.kv_q8_capacity_tokens) for `n_cells`
// quantize cells: each may hold its whole source (the prompt, plus a delay's tokens) in int8.
int64_t kv_q8_tokens_needed(int64_t prompt_tokens, int32_t max_new_tokens, size_t n_cells,
                            int32_t block_size, int32_t delay = 0);

}  // namespace cab_eval
