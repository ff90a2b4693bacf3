// The nodes of cab-frc's key graph: the mean key of each run of consecutive slots. Shared by the
// policy (which pools the keys it is given) and the backends (which pool where the keys live, so
// that only the means reach the host): both must give the same bits.
#pragma once

#include <cstdint>

#include "policy/policy.h"

namespace cab {

// The run length cab-frc pools a stream of n slots by: frc_block, or longer so that at most
// frc_max_blocks runs cover the stream; at most n (and 1 for n = 0).
int32_t frc_run_length(int64_t n, const PolicyParams &params);

// Runs of `run` slots (the last may be shorter) covering n slots: ceil(n / run).
int64_t run_count(int64_t n, int32_t run);

// out[r][c] = the f32 sum of rows[i][c] over the slots i of run r, added in slot order from 0,
// divided (f32) by the run's length. rows [n][d], out [run_count(n, run)][d], row-major.
void key_means(const float *rows, int32_t n, int32_t d, int32_t run, float *out);

}  // namespace cab
