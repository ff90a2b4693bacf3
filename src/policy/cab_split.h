// The three parts of the `cab` policies (the earlier prototype's curvature-aware, bridge-keeping
// eviction) on a budget k: local = the last L = floor(k * r_local) slots, importance = the
// top I = k - L - Bg by score among the rest, and Bg = floor(k * r_bridge) bridges chosen by
// the variant (median-closest for `cab`, curvature for `cab-frc`) among what remains.
#pragma once

#include <cstdint>
#include <vector>

#include "policy/policy.h"

namespace cab {

struct CabCounts {
    int32_t local = 0;
    int32_t importance = 0;
    int32_t bridges = 0;
};

// The parts' sizes for a budget of k slots.
CabCounts cab_counts(int32_t k, const PolicyParams &params);

struct CabSplit {
    std::vector<int32_t> local;       // ascending
    std::vector<int32_t> importance;  // ascending
    std::vector<int32_t> remaining;   // bridge candidates, ascending; more than n_bridges
    int32_t n_bridges = 0;
};

// The score vector `cab_score_source` names.
const float *cab_score(const StreamScores &scores, const PolicyParams &params);
// Error(INVALID_ARGUMENT) when that vector is missing or holds a NaN.
void check_cab_score(std::string_view policy, const StreamScores &scores,
                     const PolicyParams &params);
// Splits candidates (ascending, k < size) into the parts above.
CabSplit split_cab(const std::vector<int32_t> &candidates, int32_t k, const float *score,
                   const PolicyParams &params);
// Merges local, importance and the chosen bridges (all ascending, disjoint), ascending.
std::vector<int32_t> merge_cab(const CabSplit &split, const std::vector<int32_t> &bridges);

}  // namespace cab
