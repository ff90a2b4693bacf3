#include "sample_run.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <string>

#include "kv_memory.h"

namespace cab_eval {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Like check(), with the pool's state in the message when it is full.
void check_kv(cab_ctx *ctx, cab_status status, const char *what) {
    if (status != CAB_ERR_KV_FULL) {
        check(status, what);
        return;
    }
    const std::string message = cab_last_error();
    cab_kv_stats kv{};
    kv.struct_size = sizeof(kv);
    std::string pool;
    if (cab_kv_stats_get(ctx, CAB_SEQ_ALL, &kv) == CAB_OK)
        pool = " (" + std::to_string(kv.blocks_free) + " of " + std::to_string(kv.blocks_total) +
               " blocks free)";
    throw ApiError(status, std::string(what) + ": the KV pool is too small" + pool +
                               ", which kv_tokens_needed should have prevented: " + message);
}

int64_t round_up(int64_t n, int64_t block) {
    return (n + block - 1) / block * block;
}

// Resets sequences [0, n) when it goes out of scope, so that a sample's blocks go back to the
// pool however it ends, and the next sample, which may use fewer sequences, finds room.
class SequencesReset {
public:
    SequencesReset(cab_ctx *ctx, cab_seq n) : ctx_(ctx), n_(n) {}
    ~SequencesReset() {
        for (cab_seq s = 0; s < n_; ++s) cab_seq_reset(ctx_, s);
    }
    SequencesReset(const SequencesReset &) = delete;
    SequencesReset &operator=(const SequencesReset &) = delete;

private:
    cab_ctx *ctx_;
    cab_seq n_;
};

// Prefills `prompt` + `answer` into `seq`: in one call, or in two with the question (and the
// answer) last.
void prefill(cab_ctx *ctx, cab_seq seq, const std::vector<cab_token> &prompt,
             const std::vector<cab_token> &answer, size_t question_start) {
    const size_t split = question_start < prompt.size() ? question_start : 0;
    if (split > 0) check_kv(ctx, cab_prefill(ctx, seq, prompt.data(), split), "cab_prefill");
    std::vector<cab_token> last(prompt.begin() + static_cast<std::ptrdiff_t>(split), prompt.end());
    last.insert(last.end(), answer.begin(), answer.end());
    check_kv(ctx, cab_prefill(ctx, seq, last.data(), last.size()),
             split > 0 ? "cab_prefill (question)" : "cab_prefill");
}

cab_kv_stats kv_stats(cab_ctx *ctx, cab_seq seq) {
    cab_kv_stats kv{};
    kv.struct_size = sizeof(kv);
    check(cab_kv_stats_get(ctx, seq, &kv), "cab_kv_stats_get");
    return kv;
}

// One greedy step for every sequence of `results` not done: samples its next token, records it,
// and returns the (sequence, token) pairs to decode.
void sample_step(cab_ctx *ctx, const ModelText &text, const std::vector<CellOutcome *> &results,
                 std::vector<bool> &done, int32_t max_new_tokens, std::vector<cab_seq> &seqs,
                 std::vector<cab_token> &tokens) {
    seqs.clear();
    tokens.clear();
    for (size_t i = 0; i < results.size(); ++i) {
        if (done[i]) continue;
        const auto seq = static_cast<cab_seq>(i);
        cab_token t = 0;
        check(cab_sample(ctx, seq, nullptr, &t), "cab_sample");
        std::vector<cab_token> &answer = results[i]->tokens;
        if (cab_token_is_eog(text.model(), t)) {
            done[i] = true;
            continue;
        }
        answer.push_back(t);
        if (static_cast<int32_t>(answer.size()) >= max_new_tokens) {
            done[i] = true;
            continue;
        }
        seqs.push_back(seq);
        tokens.push_back(t);
    }
}

}  // namespace

SampleOutcome run_sample(cab_ctx *ctx, const ModelText &text, const std::vector<cab_token> &prompt,
                         const PrefillPlan &plan, const std::vector<CellSpec> &cells,
                         int32_t max_new_tokens) {
    const bool delayed = plan.delay > 0;
    const auto n_seqs = static_cast<cab_seq>(cells.size() + (delayed ? 2 : 1));
    for (cab_seq s = 0; s < n_seqs; ++s) check(cab_seq_reset(ctx, s), "cab_seq_reset");
    const SequencesReset release(ctx, n_seqs);
    const double streams = static_cast<double>(text.info().n_layer) * text.info().n_head_kv;

    SampleOutcome out;
    out.cells.resize(cells.size());
    auto start = Clock::now();
    prefill(ctx, 0, prompt, {}, plan.question_start);
    out.prefill_seconds = seconds_since(start);
    out.dense.kept_tokens = static_cast<double>(prompt.size());

    std::vector<CellOutcome *> results = {&out.dense};
    for (auto &c : out.cells) results.push_back(&c);
    std::vector<bool> done(results.size(), false);
    std::vector<cab_seq> seqs;
    std::vector<cab_token> tokens;
    double decode_seconds = 0.0;

    // The dense answer's first tokens, then the cells' source: sequence 0 itself, or a scratch
    // sequence prefilled with the prompt and those tokens.
    cab_seq source = 0;
    if (delayed) {
        const std::vector<CellOutcome *> dense = {&out.dense};
        std::vector<bool> dense_done = {false};
        start = Clock::now();
        while (!dense_done[0] && static_cast<int32_t>(out.dense.tokens.size()) < plan.delay) {
            sample_step(ctx, text, dense, dense_done, max_new_tokens, seqs, tokens);
            if (!seqs.empty())
                check_kv(ctx, cab_decode(ctx, seqs.data(), tokens.data(), seqs.size()),
                         "cab_decode");
        }
        decode_seconds += seconds_since(start);
        done[0] = dense_done[0];
        source = n_seqs - 1;
        prefill(ctx, source, prompt, out.dense.tokens, plan.question_start);
    }
    // The cells' memory is a share of what the source holds: every stream of it has `length`
    // tokens, none evicted yet.
    const cab_kv_stats dense = kv_stats(ctx, source);
    const int64_t length = dense.stream_max;
    const KvGeometry geometry{text.info().head_dim, dense.block_size};
    for (size_t i = 0; i < cells.size(); ++i) {
        const auto seq = static_cast<cab_seq>(i + 1);
        cab_evict_params params = cells[i].params;
        if (cells[i].memory) {
            const QuantizedBudget budget =
                quantized_budget(*cells[i].memory, length, params.quantize_recent, geometry);
            params.budget_unit = CAB_BUDGET_TOKENS;
            params.budget_tokens = budget.tokens;
            params.n_recent = budget.recent;
        }
        start = Clock::now();
        check_kv(ctx, cab_seq_copy(ctx, source, seq), "cab_seq_copy");
        cab_evict_report report{};
        report.struct_size = sizeof(report);
        check_kv(ctx, cab_evict(ctx, seq, &params, &report), "cab_evict");
        out.cells[i].evict_seconds = seconds_since(start);
        out.cells[i].kept_tokens = static_cast<double>(report.tokens_kept) / streams;
        out.cells[i].quantized_tokens = static_cast<double>(report.tokens_quantized) / streams;
        out.cells[i].memory_share = memory_share(kv_stats(ctx, seq), dense.blocks_used, geometry);
        // A delay's tokens are the cell's answer too; when the dense answer ended within them,
        // so has the cell's.
        out.cells[i].tokens = out.dense.tokens;
        done[i + 1] = done[0];
    }
    if (delayed) check(cab_seq_reset(ctx, source), "cab_seq_reset");

    start = Clock::now();
    for (;;) {
        sample_step(ctx, text, results, done, max_new_tokens, seqs, tokens);
        if (seqs.empty()) break;
        check_kv(ctx, cab_decode(ctx, seqs.data(), tokens.data(), seqs.size()), "cab_decode");
    }
    out.decode_seconds = decode_seconds + seconds_since(start);
    return out;
}

int64_t kv_tokens_needed(int64_t prompt_tokens, int32_t max_new_tokens,
                         const std::vector<BudgetSpec> &cell_budgets, int32_t block_size,
                         int32_t delay) {
    const int64_t b = block_size;
    // What the cells are copied from, and evicted at: the prompt, plus the delay's tokens.
    const int64_t source = prompt_tokens + std::min(delay, max_new_tokens);
    int64_t need = round_up(prompt_tokens + max_new_tokens, b) + round_up(source, b);
    if (delay > 0) need += round_up(source, b);  // the scratch sequence beside the copy
    for (const auto &budget : cell_budgets)
        need += round_up(budget.tokens_kept(source) + max_new_tokens, b);
    return need;
}

BudgetSpec quantize_tail_budget(int32_t recent, int32_t block_size) {
    BudgetSpec tail;
    tail.label = "quantize tail";
    tail.tokens =
        static_cast<int32_t>(std::min<int64_t>(INT32_MAX, int64_t{recent} + block_size - 1));
    return tail;
}

int64_t kv_q8_tokens_needed(int64_t prompt_tokens, int32_t max_new_tokens, size_t n_cells,
                            int32_t block_size, int32_t delay) {
    const int64_t source = prompt_tokens + std::min(delay, max_new_tokens);
    return static_cast<int64_t>(n_cells) * round_up(source, block_size);
}

}  // namespace cab_eval
