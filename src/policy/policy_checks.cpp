#include "policy/policy_checks.h"

#include <cmath>
#include <string>

#include "util/error.h"

namespace cab {

namespace {

std::string prefix(std::string_view policy) {
    return "policy '" + std::string(policy) + "': ";
}

}  // namespace

void check_select_args(std::string_view policy, const StreamScores &scores, int32_t budget,
                       const PolicyParams &params) {
    validate(params);
    require(budget >= 0, CAB_ERR_INVALID_ARGUMENT,
            prefix(policy) + "budget = " + std::to_string(budget) + " is negative");
    require(scores.n >= 0, CAB_ERR_INVALID_ARGUMENT,
            prefix(policy) + "scores.n = " + std::to_string(scores.n) + " is negative");
    if (!scores.positions) return;
    // Loops test first and build the message only on failure: they run over every slot.
    for (int32_t i = 1; i < scores.n; ++i) {
        if (scores.positions[i] <= scores.positions[i - 1])
            fail(CAB_ERR_INVALID_ARGUMENT, prefix(policy) +
                                               "scores.positions are not strictly increasing "
                                               "at slot " +
                                               std::to_string(i));
    }
}

void require_field(std::string_view policy, const float *values, int32_t n, const char *field) {
    if (n == 0) return;
    require(values != nullptr, CAB_ERR_INVALID_ARGUMENT,
            prefix(policy) + "needs scores." + field + ", which is null");
    for (int32_t i = 0; i < n; ++i) {
        if (std::isnan(values[i]))
            fail(CAB_ERR_INVALID_ARGUMENT,
                 prefix(policy) + "scores." + field + "[" + std::to_string(i) + "] is NaN");
    }
}

}  // namespace cab
