// The evaluation loop: every planned sample, every (policy, budget) cell, results appended to
// the JSON-lines file, resuming where an earlier run of the same configuration stopped.
#pragma once

#include <cstddef>

#include "cab/cab.h"
#include "config.h"

namespace cab_eval {

struct RunSummary {
    size_t samples_run = 0;
    size_t samples_skipped = 0;  // every cell already in the file
    size_t records_written = 0;
};

// Runs `config` on `model` (loaded on config.device). Throws ConfigError for a configuration
// that cannot run (a policy the library rejects, lengths past the model's context, a results
// file of another configuration), ApiError for a library failure, std::runtime_error for data.
RunSummary run_eval(const cab_model *model, const EvalConfig &config);

}  // namespace cab_eval
