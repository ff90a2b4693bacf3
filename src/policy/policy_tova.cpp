// `tova` (TOVA): the slots the most recent query attended to most. One-shot form of TOVA's
// evict-the-least-attended-each-step rule.
#include "policy/policies.h"
#include "policy/policy_checks.h"
#include "policy/protection.h"
#include "policy/selection.h"

namespace cab {

namespace {

class TovaPolicy final : public ProtectingPolicy {
public:
    std::string_view name() const override { return "tova"; }

protected:
    void check_fields(const StreamScores &s, const PolicyParams &) const override {
        require_field(name(), s.last, s.n, "last");
    }
    std::optional<KeepPlan> pick_plan(int32_t, int32_t k, const PolicyParams &) const override {
        KeepPlan plan;
        plan.k = k;
        plan.source = RankSource::Last;
        return plan;
    }
    std::vector<int32_t> pick(const StreamScores &s, const std::vector<int32_t> &candidates,
                              int32_t k, const PolicyParams &) const override {
        return top_k(candidates, k, s.last);
    }
};

}  // namespace

const Policy &tova_policy() {
    static const TovaPolicy policy;
    return policy;
}

}  // namespace cab
