// The frame shared by every policy that protects sinks and recent slots (all but full/random):
// argument checks, the keep-all / keep-none budgets, the protected slots, then the policy's own
// rule on what is left. Keeping it in one place makes every policy obey the same contract.
#pragma once

#include <cstdint>
#include <vector>

#include "policy/policy.h"

namespace cab {

class ProtectingPolicy : public Policy {
public:
    std::vector<int32_t> select(const StreamScores &scores, int32_t budget,
                                const PolicyParams &params, uint64_t stream_seed) const final;
    std::optional<KeepPlan> keep_plan(int32_t n, int32_t budget,
                                      const PolicyParams &params) const final;

protected:
    // Checks the StreamScores fields the rule reads; called on every select, even one that
    // keeps all, so a caller's missing field shows at once.
    virtual void check_fields(const StreamScores &scores, const PolicyParams &params) const = 0;
    // Chooses exactly k of `candidates` (the unprotected slots, ascending; 0 < k <
    // candidates.size()), returned ascending.
    virtual std::vector<int32_t> pick(const StreamScores &scores,
                                      const std::vector<int32_t> &candidates, int32_t k,
                                      const PolicyParams &params) const = 0;
    // pick's rule as a plan over the n_candidates unprotected slots (keep_front / keep_back
    // count from the candidates' ends), or nullopt when it has no such form.
    virtual std::optional<KeepPlan> pick_plan(int32_t n_candidates, int32_t k,
                                              const PolicyParams &params) const {
        (void)n_candidates;
        (void)k;
        (void)params;
        return std::nullopt;
    }
};

}  // namespace cab
