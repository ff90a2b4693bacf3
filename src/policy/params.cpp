// Validation of PolicyParams: one place, so the C ABI and the CLI report the same field names.
#include <cmath>
#include <string>

#include "policy/policy.h"
#include "policy/selection.h"
#include "util/error.h"

namespace cab {

namespace {

void check_count(int32_t value, int32_t min, const char *field) {
    require(value >= min, CAB_ERR_INVALID_ARGUMENT,
            std::string("policy params: ") + field + " = " + std::to_string(value) + " is below " +
                std::to_string(min));
}

void check_ratio(float value, const char *field) {
    // Written so that NaN fails too.
    require(value >= 0.0f && value <= 1.0f, CAB_ERR_INVALID_ARGUMENT,
            std::string("policy params: ") + field + " = " + std::to_string(value) +
                " is outside [0, 1]");
}

}  // namespace

void validate(const PolicyParams &p) {
    check_count(p.n_sinks, 0, "n_sinks");
    check_count(p.n_recent, 0, "n_recent");
    check_ratio(p.h2o_recent_ratio, "h2o_recent_ratio");
    check_count(p.snapkv_window, 1, "snapkv_window");
    check_count(p.snapkv_kernel, 1, "snapkv_kernel");
    require(p.snapkv_kernel % 2 == 1, CAB_ERR_INVALID_ARGUMENT,
            "policy params: snapkv_kernel = " + std::to_string(p.snapkv_kernel) +
                " is even (the max-pool is centred on each slot)");
    require(p.snapkv_shift >= 0 && p.snapkv_shift <= p.snapkv_kernel / 2, CAB_ERR_INVALID_ARGUMENT,
            "policy params: snapkv_shift = " + std::to_string(p.snapkv_shift) +
                " is outside [0, snapkv_kernel / 2 = " + std::to_string(p.snapkv_kernel / 2) + "]");
    check_ratio(p.r_local, "r_local");
    check_ratio(p.r_bridge, "r_bridge");
    // Compared as the policies count them (parts per million), so 0.6 + 0.4 passes.
    require(ratio_ppm(p.r_local) + ratio_ppm(p.r_bridge) <= 1000000, CAB_ERR_INVALID_ARGUMENT,
            "policy params: r_local + r_bridge = " + std::to_string(p.r_local + p.r_bridge) +
                " is above 1");
    require(
        p.cab_score_source == ScoreSource::Cumulative || p.cab_score_source == ScoreSource::Window,
        CAB_ERR_INVALID_ARGUMENT, "policy params: cab_score_source is not a ScoreSource");
    check_count(p.frc_block, 1, "frc_block");
    check_count(p.frc_max_blocks, 1, "frc_max_blocks");
    check_count(p.chunk_size, 1, "chunk_size");
    require(p.snapkv_inherit >= 0.0f && p.snapkv_inherit < 1.0f, CAB_ERR_INVALID_ARGUMENT,
            "policy params: snapkv_inherit = " + std::to_string(p.snapkv_inherit) +
                " is outside [0, 1)");
}

}  // namespace cab
