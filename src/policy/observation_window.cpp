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
    // The ranked slots: from the first after the sinks up to the window (the candidates are
    // contiguous), as the plan's [keep_front, n - keep_back).
    const int32_t first = older.front(), end = window.front();
    const std::vector<float> spread_value = spread(s.window + first, first, end - first, p);
    std::vector<float> value(static_cast<size_t>(end));
    std::copy(spread_value.begin(), spread_value.end(), value.begin() + first);
    std::vector<int32_t> keep = top_k(older, k - n_window, value.data());
    keep.insert(keep.end(), window.begin(), window.end());
    return keep;
}

}  // namespace cab
