#include "policy/observation_window.h"

#include <algorithm>

#include "policy/policy_checks.h"
#include "policy/selection.h"

namespace cab {

void ObservationWindowPolicy::check_fields(const StreamScores &s, const PolicyParams &) const {
    require_field(name(), s.window, s.n, "window");
}

std::optional<KeepPlan> ObservationWindowPolicy::pick_plan(int32_t, int32_t k,
                                                           const PolicyParams &p) const {
    KeepPlan plan;
    const int32_t n_window = std::min(p.snapkv_window, k);
    plan.keep_back = n_window;
    if (n_window == k) return plan;
    plan.k = k - n_window;
    plan.source = RankSource::Window;
    spread_plan(plan, p);
    return plan;
}

std::vector<int32_t> ObservationWindowPolicy::pick(const StreamScores &s,
                                                   const std::vector<int32_t> &candidates,
                                                   int32_t k, const PolicyParams &p) const {
    const int32_t n_window = std::min(p.snapkv_window, k);
    const std::vector<int32_t> window = most_recent(candidates, n_window);
    if (n_window == k) return window;
    const std::vector<int32_t> older = without(candidates, window);
    const std::vector<float> value = spread(s.window, window.front(), p);
    std::vector<int32_t> keep = top_k(older, k - n_window, value.data());
    keep.insert(keep.end(), window.begin(), window.end());
    return keep;
}

}  // namespace cab
