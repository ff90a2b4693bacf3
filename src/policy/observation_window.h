// The frame of the question-aware policies that keep the observation window (snapkv, chunkkv):
// the last min(snapkv_window, k) candidates (the end of the prompt: the question, when the
// prompt ends with one), then the older candidates ranked by the window score spread along the
// slots before the window (a max-pool, chunk sums), so that the span around a slot the question
// attended to survives with it. The spreading reads only the ranked slots, between the sinks and
// the window: neither lifts its neighbours (KeepPlan states the rule).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "policy/protection.h"

namespace cab {

class ObservationWindowPolicy : public ProtectingPolicy {
protected:
    void check_fields(const StreamScores &scores, const PolicyParams &params) const final;
    std::optional<KeepPlan> pick_plan(int32_t n_candidates, int32_t k,
                                      const PolicyParams &params) const final;
    std::vector<int32_t> pick(const StreamScores &scores, const std::vector<int32_t> &candidates,
                              int32_t k, const PolicyParams &params) const final;

    // The window score of the ranked slots [first, first + n) as the rule ranks them, from
    // their window scores window[0, n); out[i - first] is slot i's. The range starts after the
    // sinks and ends at the observation window: the sinks draw the largest window score of all
    // and the window's queries attend to themselves, and neither says anything of its
    // neighbours (both are kept anyway).
    virtual std::vector<float> spread(const float *window, int32_t first, int32_t n,
                                      const PolicyParams &params) const = 0;
    // The same spreading as KeepPlan fields (pool_kernel or chunk).
    virtual void spread_plan(KeepPlan &plan, const PolicyParams &params) const = 0;
};

}  // namespace cab
