// `snapkv` (SnapKV): the slots the observation window (the last W queries of the prompt, which
// hold the question when the prompt ends with one) attended to, max-pooled along slots so that
// the neighbours of a hit survive with it, plus the observation window itself. The window score
// is a sum over the GQA group's query heads: the same ranking as SnapKV's group average.
#include <algorithm>

#include "policy/policies.h"
#include "policy/policy_checks.h"
#include "policy/protection.h"
#include "policy/selection.h"

namespace cab {

namespace {

class SnapKvPolicy final : public ProtectingPolicy {
public:
    std::string_view name() const override { return "snapkv"; }

protected:
    void check_fields(const StreamScores &s, const PolicyParams &) const override {
        require_field(name(), s.window, s.n, "window");
    }
    std::optional<KeepPlan> pick_plan(int32_t, int32_t k, const PolicyParams &p) const override {
        KeepPlan plan;
        const int32_t n_window = std::min(p.snapkv_window, k);
        plan.keep_back = n_window;
        if (n_window == k) return plan;
        plan.k = k - n_window;
        plan.source = RankSource::Window;
        plan.pool_kernel = p.snapkv_kernel;
        return plan;
    }
    std::vector<int32_t> pick(const StreamScores &s, const std::vector<int32_t> &candidates,
                              int32_t k, const PolicyParams &p) const override {
        const int32_t n_window = std::min(p.snapkv_window, k);
        const std::vector<int32_t> window = most_recent(candidates, n_window);
        if (n_window == k) return window;
        const std::vector<int32_t> older = without(candidates, window);
        // As SnapKV, pool only over the slots before the observation window (sinks included):
        // the window's own high scores (its queries attend to themselves) must not spill onto
        // the slots just before it.
        const int32_t prefix = window.front();
        const std::vector<float> pooled = max_pool(s.window, prefix, p.snapkv_kernel);
        std::vector<int32_t> keep = top_k(older, k - n_window, pooled.data());
        keep.insert(keep.end(), window.begin(), window.end());
        return keep;
    }
};

}  // namespace

const Policy &snapkv_policy() {
    static const SnapKvPolicy policy;
    return policy;
}

}  // namespace cab
