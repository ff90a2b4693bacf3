#include "policy/protection.h"

#include <algorithm>
#include <string>

#include "policy/policy_checks.h"
#include "policy/selection.h"
#include "util/error.h"

namespace cab {

std::vector<int32_t> ProtectingPolicy::select(const StreamScores &scores, int32_t budget,
                                              const PolicyParams &params, uint64_t) const {
    check_select_args(name(), scores, budget, params);
    check_fields(scores, params);
    const int32_t n = scores.n;
    if (budget >= n) return all_slots(n);

    const int32_t n_sinks = std::min(params.n_sinks, n);
    const int32_t n_recent = std::min(params.n_recent, n - n_sinks);
    std::vector<int32_t> keep;
    keep.reserve(static_cast<size_t>(budget));
    if (n_sinks + n_recent >= budget) {
        // Sinks first: attention mass piles on them, and losing them breaks generation.
        const int32_t sinks = std::min(n_sinks, budget);
        for (int32_t i = 0; i < sinks; ++i) keep.push_back(i);
        for (int32_t i = n - (budget - sinks); i < n; ++i) keep.push_back(i);
        return keep;
    }

    std::vector<int32_t> candidates;
    candidates.reserve(static_cast<size_t>(n - n_sinks - n_recent));
    for (int32_t i = n_sinks; i < n - n_recent; ++i) candidates.push_back(i);
    const int32_t k = budget - n_sinks - n_recent;
    const std::vector<int32_t> chosen = pick(scores, candidates, k, params);

    for (int32_t i = 0; i < n_sinks; ++i) keep.push_back(i);
    keep.insert(keep.end(), chosen.begin(), chosen.end());
    for (int32_t i = n - n_recent; i < n; ++i) keep.push_back(i);
    // chosen is ascending and lies between the sinks and the recent slots, so keep is sorted;
    // the check guards the contract against a rule that returns the wrong count or a repeat.
    const bool ok = static_cast<int32_t>(chosen.size()) == k &&
                    std::adjacent_find(keep.begin(), keep.end(),
                                       [](int32_t a, int32_t b) { return a >= b; }) == keep.end();
    if (!ok)
        fail(CAB_ERR_INTERNAL, "policy '" + std::string(name()) + "' picked " +
                                   std::to_string(chosen.size()) + " slots (or a repeat) where " +
                                   std::to_string(k) + " were asked");
    return keep;
}

std::optional<KeepPlan> ProtectingPolicy::keep_plan(int32_t n, int32_t budget,
                                                    const PolicyParams &params) const {
    StreamScores shape;
    shape.n = n;
    check_select_args(name(), shape, budget, params);
    KeepPlan plan;
    if (budget >= n) {
        plan.keep_front = n;
        return plan;
    }
    // The same protection as select.
    const int32_t n_sinks = std::min(params.n_sinks, n);
    const int32_t n_recent = std::min(params.n_recent, n - n_sinks);
    if (n_sinks + n_recent >= budget) {
        plan.keep_front = std::min(n_sinks, budget);
        plan.keep_back = budget - plan.keep_front;
        return plan;
    }
    const int32_t k = budget - n_sinks - n_recent;
    std::optional<KeepPlan> rule = pick_plan(n - n_sinks - n_recent, k, params);
    if (!rule) return std::nullopt;
    rule->keep_front += n_sinks;
    rule->keep_back += n_recent;
    return rule;
}

}  // namespace cab
