// cab_evict_params -> EvictOptions: the defaults, and every field checked with a message that
// names it as the caller wrote it ("params->budget_ratio", "params->auto_evict->policy").
#pragma once

#include "cab/cab.h"
#include "runtime/evict.h"

namespace cab::api {

cab_evict_params evict_defaults();

// Reads a caller's struct (NULL: the defaults) and checks it. `name` prefixes field names in
// messages. The policy name is resolved to its registry singleton, so nothing borrowed is kept.
// Throws Error(INVALID_ARGUMENT).
EvictOptions to_evict_options(const cab_evict_params *given, const std::string &name);

}  // namespace cab::api
