// `full`: keeps every slot whatever the budget, the dense baseline (and the policy meaning
// "never evict"). The one policy that does not return min(budget, n) slots.
#include "policy/policies.h"
#include "policy/policy_checks.h"
#include "policy/selection.h"

namespace cab {

namespace {

class FullPolicy final : public Policy {
public:
    std::string_view name() const override { return "full"; }
    std::vector<int32_t> select(const StreamScores &scores, int32_t budget,
                                const PolicyParams &params, uint64_t) const override {
        check_select_args(name(), scores, budget, params);
        return all_slots(scores.n);
    }
    std::optional<KeepPlan> keep_plan(int32_t n, int32_t budget,
                                      const PolicyParams &params) const override {
        StreamScores shape;
        shape.n = n;
        check_select_args(name(), shape, budget, params);
        KeepPlan plan;
        plan.keep_front = n;
        return plan;
    }
};

}  // namespace

const Policy &full_policy() {
    static const FullPolicy policy;
    return policy;
}

}  // namespace cab
