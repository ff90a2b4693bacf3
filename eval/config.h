// What one evaluation run measures, as parsed from the command line, and the fingerprint that
// tells whether two runs may share a results file.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "cab/cab.h"
#include "tasks/sample.h"

namespace cab_eval {

// A bad configuration value; the message names the option.
class ConfigError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

// A policy as given: a libcab policy name with optional modifiers, e.g. "snapkv:layer:k15":
// ":window" ranks h2o / cab / cab-frc by the window score (CAB_SCORE_WINDOW, question-aware);
// ":norm" ranks h2o by mean attention (h2o_normalize); ":layer" selects once per layer for all
// its heads (CAB_SELECTION_SHARED_PER_LAYER); ":c<N>" sets chunkkv_chunk, ":k<N>" (odd)
// snapkv_kernel and ":s<N>" snapkv_shift (at most half the kernel) to N. "quantize" and
// "quantize+<policy>" keep older tokens in int8 blocks (":r<N>": the last N of each stream stay
// in full precision, quantize_recent; ":fp8": in fp8 E4M3 blocks, on a context of their own);
// their budgets are KV memory (kv_memory.h: the same bytes for both 8-bit types), and plain
// "quantize", which evicts nothing, takes none.
struct PolicySpec {
    std::string label;   // as written, e.g. "cab:window"; the policy field of the results
    std::string policy;  // the libcab name, e.g. "cab"
    bool window_source = false;
    bool normalize = false;
    bool shared_per_layer = false;
    int32_t chunk = 0;        // 0: the library's default
    int32_t kernel = 0;       // 0: the library's default
    int32_t shift = 0;        // 0: the library's default (no shift)
    int32_t keep_window = 0;  // snapkv / chunkkv observation window kept; 0: the default
    int32_t inherit = 0;      // snapkv: percent of the layers, from the first, that rank by the
                              // deeper layers' window score (snapkv_inherit); 0: off
    cab_budget_allocation allocation = CAB_ALLOCATION_UNIFORM;
    bool quantize = false;         // "quantize" or "quantize+<policy>"
    int32_t quantize_recent = -1;  // -1: the library's default
    bool fp8 = false;              // quantize into fp8 E4M3 blocks rather than int8
};

// "10%" (a share of each stream, up to 6 decimals) or "128" (tokens per stream).
struct BudgetSpec {
    std::string label;  // as written
    bool is_ratio = false;
    double ratio = 0.0;
    int32_t tokens = 0;

    // Tokens a stream of `length` keeps under this budget.
    int64_t tokens_kept(int64_t length) const;
};

// The dense reference: policy "full" runs on every sample, recorded with this budget label.
constexpr const char *kDensePolicy = "full";
constexpr const char *kDenseBudget = "100%";
// Plain "quantize" keeps every token whatever the budget: it runs once per sample, recorded
// with this budget label.
constexpr const char *kQuantizePolicy = "quantize";
constexpr const char *kAllTokensBudget = "all";

struct EvalConfig {
    std::string data_dir;
    std::string out_path;
    std::vector<Task> tasks;
    std::vector<int32_t> lengths;  // target prompt lengths in tokens
    std::vector<int32_t> depths;   // needle depths in percent
    int32_t samples = 0;           // per (task, length, depth); xsum: samples x lengths x depths
    std::vector<PolicySpec> policies;  // without "full" (the dense reference always runs)
    std::vector<BudgetSpec> budgets;
    int32_t max_new_tokens = 0;  // 0: each task's default
    uint64_t seed = 0;
    cab_device device = CAB_DEVICE_AUTO;
    int32_t threads = 0;
    int32_t sinks = -1;  // -1: the library's default
    int32_t window = 0;  // 0: the library's default (score window = snapkv window)
    // The question (its first token to the end of the prompt) is prefilled as a chunk of its own
    // and is the whole window score; `window` then sets only the window snapkv / chunkkv keep.
    bool question_window = false;
    // Delayed eviction: the cells are evicted after the dense answer's first `delay` tokens,
    // ranked with their attention too (PrefillPlan::delay).
    int32_t delay = 0;
    bool quiet = false;
};

std::vector<std::string> split_list(const std::string &text);
// ConfigError for a malformed modifier, or a quantize name without its policy ("quantize+").
// Whether the library knows the policy is checked on a context (run_eval).
PolicySpec parse_policy(const std::string &text);
BudgetSpec parse_budget(const std::string &text);  // ConfigError when malformed

// The most tokens a task's answer may take: config.max_new_tokens, or the task's default.
int32_t max_new_tokens(Task task, const EvalConfig &config);

// The evict parameters of one (policy, budget) cell; `policy` must outlive their use. For a
// quantize+<policy> cell the budget is memory: run_sample replaces the token budget per sample.
cab_evict_params evict_params(const PolicySpec &policy, const BudgetSpec &budget,
                              const EvalConfig &config);

// Everything that changes a cell's result but not its key (model, device, library, seed, answer
// length, policy parameters), as a short hex hash. Tasks, lengths, depths, sample counts,
// policies and budgets only add or remove cells, so runs that differ in them may share a file.
std::string config_hash(const EvalConfig &config, const cab_model_info &model);

}  // namespace cab_eval
