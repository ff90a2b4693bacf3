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

// Sequence 0 takes the prompt (no eviction) and is the dense reference; cells[i] runs on
// sequence i + 1, a cab_seq_copy of sequence 0 made right after the prefill, so every cell
// starts from the same logits: the first answer token comes from the full prompt, and
// eviction acts from the second on. Each sequence stops at an end-of-generation token or after
// max_new_tokens tokens. Needs n_seq_max > cells.size() and the KV room of kv_tokens_needed;
// the sequences it used are empty again when it returns (or throws). A question_start in
// (0, prompt.size()) prefills the prompt in two calls, the question [question_start, end) last,
// so that its queries alone are the window score (when the context's score_window covers it).
SampleOutcome run_sample(cab_ctx *ctx, const ModelText &text, const std::vector<cab_token> &prompt,
                         size_t question_start, const std::vector<cab_evict_params> &cells,
                         int32_t max_new_tokens);

// KV capacity (tokens per stream, the cab_ctx_params unit) that run_sample needs for a prompt
// of `prompt_tokens`: the dense sequence and its answer, one full copy while a cell is evicted,
// and every cell's budget plus its answer, each rounded up to whole blocks.
int64_t kv_tokens_needed(int64_t prompt_tokens, int32_t max_new_tokens,
                         const std::vector<BudgetSpec> &cell_budgets, int32_t block_size);

}  // namespace cab_eval
