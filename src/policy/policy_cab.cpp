// `cab`: local + importance + bridges, where the bridges are the remaining slots whose score is
// closest to the median of the remaining scores: mid-attention tokens that link the kept
// heavy hitters to the rest of the context, which pure top-k drops first.
#include "policy/cab_split.h"
#include "policy/policies.h"
#include "policy/protection.h"
#include "policy/selection.h"

namespace cab {

namespace {

class CabPolicy final : public ProtectingPolicy {
public:
    std::string_view name() const override { return "cab"; }

protected:
    void check_fields(const StreamScores &s, const PolicyParams &p) const override {
        check_cab_score(name(), s, p);
    }
    // Local is the kept tail, importance the top k, bridges the plan's bridges: the same split.
    std::optional<KeepPlan> pick_plan(int32_t, int32_t k, const PolicyParams &p) const override {
        const CabCounts counts = cab_counts(k, p);
        KeepPlan plan;
        plan.keep_back = counts.local;
        plan.k = counts.importance;
        plan.bridges = counts.bridges;
        plan.source =
            p.cab_score_source == ScoreSource::Window ? RankSource::Window : RankSource::Score;
        return plan;
    }
    std::vector<int32_t> pick(const StreamScores &s, const std::vector<int32_t> &candidates,
                              int32_t k, const PolicyParams &p) const override {
        const float *score = cab_score(s, p);
        const CabSplit split = split_cab(candidates, k, score, p);
        std::vector<int32_t> bridges;
        if (split.n_bridges > 0) {
            bridges =
                closest_k(split.remaining, split.n_bridges, score, median(split.remaining, score));
        }
        return merge_cab(split, bridges);
    }
};

}  // namespace

const Policy &cab_policy() {
    static const CabPolicy policy;
    return policy;
}

}  // namespace cab
