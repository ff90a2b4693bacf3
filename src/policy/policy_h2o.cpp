// `h2o` (Heavy-Hitter Oracle): the most recent share of the budget plus the slots with the
// largest cumulative attention. Raw sums favour early slots (they were seen by more queries);
// h2o_normalize ranks by mean attention (score / observers) instead. With the window score
// source (cab_score_source, as cab) it ranks by the question's attention instead of the sum.
#include "policy/policies.h"
#include "policy/policy_checks.h"
#include "policy/protection.h"
#include "policy/selection.h"

namespace cab {

namespace {

bool by_window(const PolicyParams &p) {
    return p.cab_score_source == ScoreSource::Window;
}

class H2oPolicy final : public ProtectingPolicy {
public:
    std::string_view name() const override { return "h2o"; }

protected:
    void check_fields(const StreamScores &s, const PolicyParams &p) const override {
        if (by_window(p)) {
            require_field(name(), s.window, s.n, "window");
        } else {
            require_field(name(), s.score, s.n, "score");
        }
        if (p.h2o_normalize) require_field(name(), s.observers, s.n, "observers");
    }
    std::optional<KeepPlan> pick_plan(int32_t, int32_t k, const PolicyParams &p) const override {
        KeepPlan plan;
        plan.keep_back = share_of(k, p.h2o_recent_ratio);
        plan.k = k - plan.keep_back;
        plan.source = by_window(p) ? RankSource::Window : RankSource::Score;
        plan.per_observer = p.h2o_normalize;
        return plan;
    }
    std::vector<int32_t> pick(const StreamScores &s, const std::vector<int32_t> &candidates,
                              int32_t k, const PolicyParams &p) const override {
        const int32_t n_recent = share_of(k, p.h2o_recent_ratio);
        std::vector<int32_t> keep = most_recent(candidates, n_recent);
        const std::vector<int32_t> older = without(candidates, keep);

        const float *source = by_window(p) ? s.window : s.score;
        std::vector<float> mean;
        const float *value = source;
        if (p.h2o_normalize) {
            mean.resize(static_cast<size_t>(s.n));
            // A slot no query saw yet has no evidence: rank it with mean 0.
            for (int32_t i = 0; i < s.n; ++i)
                mean[i] = s.observers[i] > 0.0f ? source[i] / s.observers[i] : 0.0f;
            value = mean.data();
        }
        const std::vector<int32_t> heavy = top_k(older, k - n_recent, value);
        keep.insert(keep.begin(), heavy.begin(), heavy.end());
        return keep;
    }
};

}  // namespace

const Policy &h2o_policy() {
    static const H2oPolicy policy;
    return policy;
}

}  // namespace cab
