#include "api/evict_params.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <string>
#include <string_view>

#include "api/guard.h"
#include "policy/selection.h"

namespace cab::api {

namespace {

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

class Checker {
public:
    explicit Checker(const std::string &name) : name_(name) {}

    void count(int32_t value, int32_t min, const char *field) const {
        require(value >= min, CAB_ERR_INVALID_ARGUMENT,
                name_ + "->" + field + " = " + std::to_string(value) + " is below " +
                    std::to_string(min));
    }
    // Written so that NaN fails too.
    void range(double value, double lo, double hi, const char *field) const {
        require(value >= lo && value <= hi, CAB_ERR_INVALID_ARGUMENT,
                name_ + "->" + field + " = " + number(value) + " is outside [" + number(lo) + ", " +
                    number(hi) + "]");
    }
    void one_of(int value, int n, const char *field, const char *what) const {
        require(
            value >= 0 && value < n, CAB_ERR_INVALID_ARGUMENT,
            name_ + "->" + field + " = " + std::to_string(value) + " is not a " + what + " value");
    }
    [[noreturn]] void bad(const char *field, const std::string &why) const {
        fail(CAB_ERR_INVALID_ARGUMENT, name_ + "->" + field + " " + why);
    }

private:
    const std::string &name_;
};

// The struct before snapkv_shift (104 bytes: chunkkv_chunk filled what was tail padding); programs
// built then pass that size, and the shift keeps its default.
constexpr size_t kEvictParamsV1Size = offsetof(cab_evict_params, snapkv_shift);

std::string policy_list() {
    std::string out;
    for (std::string_view n : policy_names()) out += (out.empty() ? "" : ", ") + std::string(n);
    return out;
}

}  // namespace

cab_evict_params evict_defaults() {
    cab_evict_params p{};
    p.struct_size = sizeof(cab_evict_params);
    p.policy = "cab";
    p.budget_unit = CAB_BUDGET_TOKENS;
    p.budget_tokens = 256;
    p.budget_ratio = 0.5;
    p.n_sinks = 4;
    p.n_recent = 0;
    p.selection = CAB_SELECTION_PER_HEAD;
    p.allocation = CAB_ALLOCATION_UNIFORM;
    p.min_budget = 5;
    p.pyramid_beta = 20.0f;
    p.seed = 0;
    p.h2o_normalize = 0;
    p.h2o_recent_ratio = 0.2f;
    p.snapkv_window = 32;
    p.snapkv_kernel = 7;
    p.cab_r_local = 0.3f;
    p.cab_r_bridge = 0.2f;
    p.score_source = CAB_SCORE_CUMULATIVE;
    p.frc_block = 16;
    p.frc_max_blocks = 128;
    p.chunkkv_chunk = 16;
    p.snapkv_shift = 0;
    p.snapkv_inherit = 0.0f;
    p.quantize_recent = 64;
    return p;
}

EvictOptions to_evict_options(const cab_evict_params *given, const std::string &name) {
    const cab_evict_params p =
        read_params(given, evict_defaults(), name.c_str(), kEvictParamsV1Size);
    const Checker check(name);
    EvictOptions o;

    if (p.policy == nullptr) check.bad("policy", "is NULL");
    // "quantize" alone, or "quantize+<policy>": int8 blocks first, then that policy.
    constexpr std::string_view kQuantize = "quantize", kPrefix = "quantize+";
    std::string_view policy_name = p.policy;
    o.quantize = policy_name == kQuantize || policy_name.substr(0, kPrefix.size()) == kPrefix;
    if (policy_name != kQuantize) {
        if (o.quantize) policy_name.remove_prefix(kPrefix.size());
        o.policy = find_policy(policy_name);
        if (o.policy == nullptr)
            check.bad("policy", "'" + std::string(p.policy) + "' is not a policy (" +
                                    policy_list() + ", quantize or quantize+<policy>)");
    }
    check.count(p.quantize_recent, 0, "quantize_recent");
    o.quantize_recent = p.quantize_recent;

    check.one_of(enum_int(p.budget_unit), 2, "budget_unit", "cab_budget_unit");
    if (p.budget_unit == CAB_BUDGET_TOKENS) {
        check.count(p.budget_tokens, 0, "budget_tokens");
        o.budget.tokens = p.budget_tokens;
    } else {
        check.range(p.budget_ratio, 0.0, 1.0, "budget_ratio");
        o.budget.is_ratio = true;
        o.budget.ratio_den = 1000000;
        o.budget.ratio_num = std::llround(p.budget_ratio * 1e6);
    }

    check.count(p.n_sinks, 0, "n_sinks");
    check.count(p.n_recent, 0, "n_recent");
    check.one_of(enum_int(p.selection), 2, "selection", "cab_evict_selection");
    check.one_of(enum_int(p.allocation), 3, "allocation", "cab_budget_allocation");
    check.count(p.min_budget, 0, "min_budget");
    check.range(p.pyramid_beta, 1.0, 1e9, "pyramid_beta");
    check.range(p.h2o_recent_ratio, 0.0, 1.0, "h2o_recent_ratio");
    check.count(p.snapkv_window, 1, "snapkv_window");
    check.count(p.snapkv_kernel, 1, "snapkv_kernel");
    if (p.snapkv_kernel % 2 == 0) check.bad("snapkv_kernel", "is even (the max-pool is centred)");
    check.range(p.snapkv_shift, 0, p.snapkv_kernel / 2, "snapkv_shift");
    check.range(p.cab_r_local, 0.0, 1.0, "cab_r_local");
    check.range(p.cab_r_bridge, 0.0, 1.0, "cab_r_bridge");
    if (ratio_ppm(p.cab_r_local) + ratio_ppm(p.cab_r_bridge) > 1000000)
        check.bad("cab_r_bridge", "+ cab_r_local is above 1");
    check.one_of(enum_int(p.score_source), 2, "score_source", "cab_score_source");
    if (p.h2o_normalize != 0 && p.score_source == CAB_SCORE_WINDOW && o.policy != nullptr &&
        o.policy->name() == "h2o")
        check.bad("h2o_normalize",
                  "needs score_source CAB_SCORE_CUMULATIVE (observers count every query, the "
                  "window only the last ones)");
    check.count(p.frc_block, 1, "frc_block");
    check.count(p.frc_max_blocks, 1, "frc_max_blocks");
    check.count(p.chunkkv_chunk, 1, "chunkkv_chunk");
    if (!(p.snapkv_inherit >= 0.0f && p.snapkv_inherit < 1.0f))  // NaN fails too
        check.bad("snapkv_inherit", "= " + std::to_string(p.snapkv_inherit) + " is outside [0, 1)");

    PolicyParams &pp = o.params;
    pp.n_sinks = p.n_sinks;
    pp.n_recent = p.n_recent;
    pp.seed = p.seed;
    pp.h2o_normalize = p.h2o_normalize != 0;
    pp.h2o_recent_ratio = p.h2o_recent_ratio;
    pp.snapkv_window = p.snapkv_window;
    pp.snapkv_kernel = p.snapkv_kernel;
    pp.snapkv_shift = p.snapkv_shift;
    pp.r_local = p.cab_r_local;
    pp.r_bridge = p.cab_r_bridge;
    pp.cab_score_source =
        p.score_source == CAB_SCORE_WINDOW ? ScoreSource::Window : ScoreSource::Cumulative;
    pp.frc_block = p.frc_block;
    pp.frc_max_blocks = p.frc_max_blocks;
    pp.chunk_size = p.chunkkv_chunk;
    pp.snapkv_inherit = p.snapkv_inherit;
    validate(pp);

    o.shared_per_layer = p.selection == CAB_SELECTION_SHARED_PER_LAYER;
    o.allocation.method = p.allocation == CAB_ALLOCATION_PYRAMID    ? BudgetAllocation::Pyramid
                          : p.allocation == CAB_ALLOCATION_ADAPTIVE ? BudgetAllocation::Adaptive
                                                                    : BudgetAllocation::Uniform;
    o.allocation.min_budget = p.min_budget;
    o.allocation.pyramid_beta = p.pyramid_beta;
    // The slots the policy keeps whatever it ranks: the allocation gives no stream fewer, and
    // adaptive compares heads by the rest (budget.h).
    const std::string_view policy = o.policy != nullptr ? o.policy->name() : "full";
    if (policy != "full" && policy != "random") {
        const bool observes = policy == "snapkv" || policy == "chunkkv";
        o.allocation.protect_front = p.n_sinks;
        o.allocation.protect_back = static_cast<int32_t>(
            std::min<int64_t>(INT32_MAX, int64_t{p.n_recent} + (observes ? p.snapkv_window : 0)));
    }
    return o;
}

}  // namespace cab::api
