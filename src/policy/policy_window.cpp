// `window` (StreamingLLM): the sinks and the most recent slots; reads no scores, so it suits
// streaming chat where old turns may go.
#include "policy/policies.h"
#include "policy/protection.h"
#include "policy/selection.h"

namespace cab {

namespace {

class WindowPolicy final : public ProtectingPolicy {
public:
    std::string_view name() const override { return "window"; }

protected:
    void check_fields(const StreamScores &, const PolicyParams &) const override {}
    std::optional<KeepPlan> pick_plan(int32_t, int32_t k, const PolicyParams &) const override {
        KeepPlan plan;
        plan.keep_back = k;
        return plan;
    }
    std::vector<int32_t> pick(const StreamScores &, const std::vector<int32_t> &candidates,
                              int32_t k, const PolicyParams &) const override {
        return most_recent(candidates, k);
    }
};

}  // namespace

const Policy &window_policy() {
    static const WindowPolicy policy;
    return policy;
}

}  // namespace cab
