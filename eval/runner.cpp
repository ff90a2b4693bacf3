#include "runner.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "model_text.h"
#include "progress.h"
#include "results_file.h"
#include "sample_run.h"
#include "scoring.h"
#include "tasks/task_set.h"
#include "util/json.h"

namespace cab_eval {

namespace {

// The score window of --question-window contexts: every question chunk fits in it.
constexpr int32_t kQuestionWindowMax = 1024;

struct Cell {
    const PolicySpec *policy;
    BudgetSpec budget;
    CellSpec spec;
};

std::vector<Cell> make_cells(const EvalConfig &config) {
    std::vector<Cell> cells;
    for (const auto &p : config.policies) {
        if (p.policy == kQuantizePolicy) {
            BudgetSpec all;
            all.label = kAllTokensBudget;
            all.is_ratio = true;
            all.ratio = 1.0;
            cells.push_back({&p, all, {evict_params(p, all, config), std::nullopt}});
            continue;
        }
        for (const auto &b : config.budgets) {
            std::optional<BudgetSpec> memory;
            if (p.quantize) memory = b;
            cells.push_back({&p, b, {evict_params(p, b, config), memory}});
        }
    }
    return cells;
}

int32_t longest_answer(const EvalConfig &config) {
    int32_t n = 0;
    for (const Task t : config.tasks) n = std::max(n, max_new_tokens(t, config));
    return n;
}

void check_lengths(const EvalConfig &config, const cab_model_info &info) {
    for (const int32_t length : config.lengths) {
        const int64_t need = int64_t{length} + longest_answer(config);
        if (info.n_ctx_train > 0 && need > info.n_ctx_train)
            throw ConfigError("--lengths: " + std::to_string(length) + " tokens and an answer of " +
                              std::to_string(longest_answer(config)) +
                              " exceed the model's training context of " +
                              std::to_string(info.n_ctx_train) + " tokens");
    }
}

// The cells that share a context: those whose 8-bit blocks (if any) are of one type, since a
// context has one. The int8 group comes first and exists even without cells (the dense reference
// runs on it); an fp8 group only when a cell asks for it.
struct CellGroup {
    cab_kv_q8_type q8_type = CAB_KV_Q8_INT8;
    std::vector<const Cell *> cells;
};

std::vector<CellGroup> group_cells(const std::vector<Cell> &cells) {
    std::vector<CellGroup> groups(1);
    for (const Cell &c : cells) {
        if (!c.policy->fp8) {
            groups[0].cells.push_back(&c);
            continue;
        }
        if (groups.size() == 1) groups.push_back({CAB_KV_Q8_FP8_E4M3, {}});
        groups[1].cells.push_back(&c);
    }
    return groups;
}

CtxPtr make_context(const cab_model *model, const EvalConfig &config, const CellGroup &group,
                    int32_t longest, int64_t *capacity) {
    const std::vector<const Cell *> &cells = group.cells;
    cab_ctx_params params;
    check(cab_ctx_default_params(&params), "cab_ctx_default_params");
    params.device = config.device;
    params.n_threads = config.threads;
    params.n_seq_max = static_cast<int32_t>(cells.size() + (config.delay > 0 ? 2 : 1));
    if (config.window > 0) params.score_window = config.window;
    // The question's chunk is the whole window: questions are far shorter than this.
    if (config.question_window) params.score_window = kQuestionWindowMax;
    std::vector<BudgetSpec> budgets;
    size_t quantize_cells = 0;
    for (const Cell *c : cells) {
        if (c->policy->quantize) {
            budgets.push_back(
                quantize_tail_budget(c->spec.params.quantize_recent, params.kv_block_size));
            ++quantize_cells;
        } else {
            budgets.push_back(c->budget);
        }
    }
    *capacity = kv_tokens_needed(longest, longest_answer(config), budgets, params.kv_block_size,
                                 config.delay);
    params.kv_capacity_tokens = *capacity;
    params.kv_q8_capacity_tokens = kv_q8_tokens_needed(
        longest, longest_answer(config), quantize_cells, params.kv_block_size, config.delay);
    params.kv_q8_type = group.q8_type;
    cab_ctx *ctx = nullptr;
    const cab_status status = cab_ctx_create(model, &params, &ctx);
    if (status != CAB_OK)
        throw ApiError(status, "cab_ctx_create: cannot make a KV pool of " +
                                   std::to_string(*capacity) + " tokens for " +
                                   std::to_string(cells.size() + 1) +
                                   " sequences (the dense reference and every policy x budget "
                                   "cell; fewer cells or shorter --lengths need less): " +
                                   cab_last_error());
    return CtxPtr(ctx);
}

// Fails early, before any sample, on a cell the library rejects: evicting an empty sequence
// checks the parameters and does nothing else.
void check_cells(cab_ctx *ctx, const std::vector<const Cell *> &cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
        if (cab_evict(ctx, static_cast<cab_seq>(i + 1), &cells[i]->spec.params, nullptr) != CAB_OK)
            throw ConfigError("--policies " + cells[i]->policy->label + " with budget " +
                              cells[i]->budget.label + ": " + cab_last_error());
    }
}

// A length too short for the task is the configuration's fault: say which option.
Sample make_sample(TaskSet &tasks, const SampleSpec &spec) {
    try {
        return tasks.make(spec);
    } catch (const std::invalid_argument &e) {
        throw ConfigError("--lengths " + std::to_string(spec.length) + ", task " +
                          task_name(spec.task) + ": " + e.what());
    }
}

std::string record(const std::string &hash, const Sample &s, const std::string &policy,
                   const std::string &budget, const CellOutcome &cell, const SampleOutcome &run,
                   const ModelText &text) {
    const std::string answer = text.detokenize(cell.tokens);
    JsonObject metrics;
    for (const Score &m : score_answer(s.task, answer, s.answer)) metrics.add(m.name, m.value);
    JsonObject seconds;
    seconds.add("prefill", run.prefill_seconds)
        .add("evict", cell.evict_seconds)
        .add("decode", run.decode_seconds);
    const auto length = static_cast<int64_t>(s.prompt.tokens.size());
    JsonObject r;
    r.add("config", hash)
        .add("task", task_name(s.task))
        .add("sample", s.id)
        .add("length", length)
        .add("target_length", s.target_length)
        .add("depth", s.depth)
        .add("policy", policy)
        .add("budget", budget)
        .add("kept_tokens", cell.kept_tokens)
        .add("kept_share", cell.kept_tokens / static_cast<double>(length))
        .add("memory_share", cell.memory_share)
        .add("quantized_tokens", cell.quantized_tokens)
        .add("answer", answer)
        .add("gold", s.answer)
        .add("generated_tokens", static_cast<int64_t>(cell.tokens.size()))
        .add("metrics", metrics)
        .add("seconds", seconds)
        .add("model", text.info().name)
        .add("device", text.info().device == CAB_DEVICE_CUDA ? "cuda" : "cpu");
    return r.str();
}

}  // namespace

RunSummary run_eval(const cab_model *model, const EvalConfig &config) {
    const ModelText text(model);
    check_lengths(config, text.info());
    const std::string hash = config_hash(config, text.info());
    ResultsFile results(config.out_path, hash);
    const std::vector<Cell> cells = make_cells(config);
    const int32_t longest = *std::max_element(config.lengths.begin(), config.lengths.end());
    const std::vector<CellGroup> groups = group_cells(cells);
    std::vector<CtxPtr> contexts;
    int64_t capacity = 0;
    for (const CellGroup &g : groups) {
        int64_t group_capacity = 0;
        contexts.push_back(make_context(model, config, g, longest, &group_capacity));
        check_cells(contexts.back().get(), g.cells);
        capacity = std::max(capacity, group_capacity);
    }

    TaskSet tasks(text, config.data_dir, config.seed, longest);
    const std::vector<SampleSpec> specs =
        TaskSet::plan(config.tasks, config.lengths, config.depths, config.samples, longest);
    int64_t total_tokens = 0;
    for (const auto &spec : specs) total_tokens += spec.length;
    if (!config.quiet)
        std::fprintf(stderr,
                     "cab eval: %zu samples x (dense + %zu cells), KV pool of %lld tokens, "
                     "config %s, %zu records already in %s\n",
                     specs.size(), cells.size(), static_cast<long long>(capacity), hash.c_str(),
                     results.existing(), config.out_path.c_str());

    Progress progress(specs.size(), total_tokens, config.quiet);
    RunSummary summary;
    bool warned_xsum = false;
    for (const SampleSpec &spec : specs) {
        const std::string id = tasks.id(spec);
        if (id.empty()) {
            if (!warned_xsum && !config.quiet) {
                progress.finish();
                std::fprintf(stderr, "cab eval: only %d xsum articles fit in %d tokens\n",
                             spec.index, spec.length);
            }
            warned_xsum = true;
            progress.skip(spec.length);
            continue;
        }
        const std::string dense_key = ResultsFile::key(id, kDensePolicy, kDenseBudget);
        std::vector<std::vector<const Cell *>> todo(groups.size());
        bool any = false;
        for (size_t g = 0; g < groups.size(); ++g)
            for (const Cell *c : groups[g].cells)
                if (!results.has(ResultsFile::key(id, c->policy->label, c->budget.label))) {
                    todo[g].push_back(c);
                    any = true;
                }
        if (!any && results.has(dense_key)) {
            ++summary.samples_skipped;
            progress.skip(spec.length);
            continue;
        }
        const auto start = std::chrono::steady_clock::now();
        const Sample sample = make_sample(tasks, spec);
        PrefillPlan plan;
        if (config.question_window)
            plan.question_start = text.question_start(sample.prompt, sample.question);
        plan.delay = config.delay;
        std::vector<std::string> lines;
        std::vector<std::string> keys;
        // Each group's context prefills the sample on its own; the dense reference holds no 8-bit
        // blocks, so the first run's is recorded.
        bool dense_done = results.has(dense_key);
        for (size_t g = 0; g < groups.size(); ++g) {
            if (todo[g].empty() && (dense_done || g > 0)) continue;
            std::vector<CellSpec> params;
            for (const Cell *c : todo[g]) params.push_back(c->spec);
            const SampleOutcome run = run_sample(contexts[g].get(), text, sample.prompt.tokens,
                                                 plan, params, max_new_tokens(spec.task, config));
            if (!dense_done) {
                lines.push_back(
                    record(hash, sample, kDensePolicy, kDenseBudget, run.dense, run, text));
                keys.push_back(dense_key);
                dense_done = true;
            }
            for (size_t i = 0; i < todo[g].size(); ++i) {
                const Cell &c = *todo[g][i];
                lines.push_back(
                    record(hash, sample, c.policy->label, c.budget.label, run.cells[i], run, text));
                keys.push_back(ResultsFile::key(id, c.policy->label, c.budget.label));
            }
        }
        results.append(lines, keys);
        summary.records_written += lines.size();
        ++summary.samples_run;
        progress.done(
            id + " (" + std::to_string(sample.prompt.tokens.size()) + " tokens)", spec.length,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    progress.finish();
    return summary;
}

}  // namespace cab_eval
