#include "policy/cab_split.h"

#include <algorithm>
#include <iterator>

#include "policy/policy_checks.h"
#include "policy/selection.h"

namespace cab {

const float *cab_score(const StreamScores &s, const PolicyParams &p) {
    return p.cab_score_source == ScoreSource::Window ? s.window : s.score;
}

void check_cab_score(std::string_view policy, const StreamScores &s, const PolicyParams &p) {
    const bool window = p.cab_score_source == ScoreSource::Window;
    require_field(policy, cab_score(s, p), s.n, window ? "window" : "score");
}

CabCounts cab_counts(int32_t k, const PolicyParams &p) {
    CabCounts c;
    c.local = share_of(k, p.r_local);
    // validate() bounds r_local + r_bridge by 1, so this min only guards rounding.
    c.bridges = std::min(share_of(k, p.r_bridge), k - c.local);
    c.importance = k - c.local - c.bridges;
    return c;
}

CabSplit split_cab(const std::vector<int32_t> &candidates, int32_t k, const float *score,
                   const PolicyParams &p) {
    CabSplit split;
    const CabCounts counts = cab_counts(k, p);
    split.n_bridges = counts.bridges;
    split.local = most_recent(candidates, counts.local);
    const std::vector<int32_t> older = without(candidates, split.local);
    split.importance = top_k(older, counts.importance, score);
    split.remaining = without(older, split.importance);
    return split;
}

std::vector<int32_t> merge_cab(const CabSplit &split, const std::vector<int32_t> &bridges) {
    std::vector<int32_t> keep;
    std::merge(split.importance.begin(), split.importance.end(), bridges.begin(), bridges.end(),
               std::back_inserter(keep));
    keep.insert(keep.end(), split.local.begin(), split.local.end());
    return keep;
}

}  // namespace cab
