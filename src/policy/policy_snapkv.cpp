// `snapkv` (SnapKV): the slots the observation window (the last W queries of the prompt, which
// hold the question when the prompt ends with one) attended to, max-pooled along slots so that
// the neighbours of a hit survive with it, plus the observation window itself. The window score
// is a sum over the GQA group's query heads: the same ranking as SnapKV's group average.
#include "policy/observation_window.h"
#include "policy/policies.h"
#include "policy/selection.h"

namespace cab {

namespace {

class SnapKvPolicy final : public ObservationWindowPolicy {
public:
    std::string_view name() const override { return "snapkv"; }

protected:
    // As SnapKV: a max-pool of width snapkv_kernel, so that the neighbours of a hit survive;
    // snapkv_shift moves the window back, so that more of what follows a hit survives (the
    // question attends to a value's key and first digits, not to the digits after them).
    // The pool is clipped to the ranked slots: the sinks lift none of the slots after them.
    std::vector<float> spread(const float *window, int32_t, int32_t n,
                              const PolicyParams &p) const override {
        return max_pool(window, n, p.snapkv_kernel, p.snapkv_shift);
    }
    void spread_plan(KeepPlan &plan, const PolicyParams &p) const override {
        plan.pool_kernel = p.snapkv_kernel;
        plan.pool_shift = p.snapkv_shift;
    }
};

}  // namespace

const Policy &snapkv_policy() {
    static const SnapKvPolicy policy;
    return policy;
}

}  // namespace cab
