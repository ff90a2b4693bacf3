// The policy singletons, one per file (policy_<name>.cpp); registry.cpp lists them by name.
#pragma once

#include "policy/policy.h"

namespace cab {

const Policy &full_policy();
const Policy &random_policy();
const Policy &window_policy();
const Policy &h2o_policy();
const Policy &tova_policy();
const Policy &snapkv_policy();
const Policy &cab_policy();
const Policy &cab_frc_policy();
const Policy &chunkkv_policy();

}  // namespace cab
