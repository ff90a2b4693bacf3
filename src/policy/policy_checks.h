// Argument checks shared by the policies, so that every policy rejects bad input the same way
// and with a message naming the policy and the field.
#pragma once

#include <cstdint>
#include <string_view>

#include "policy/policy.h"

namespace cab {

// Checks what every policy needs: valid params, budget >= 0, n >= 0, positions (when given)
// strictly increasing.
void check_select_args(std::string_view policy, const StreamScores &scores, int32_t budget,
                       const PolicyParams &params);

// Checks that a per-slot field the policy reads is present and holds no NaN (a NaN would make
// the ranking order undefined). `field` is the StreamScores member name.
void require_field(std::string_view policy, const float *values, int32_t n, const char *field);

}  // namespace cab
