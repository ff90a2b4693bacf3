#include "policy/keep_plan.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <string>

#include "policy/policy.h"
#include "policy/selection.h"
#include "util/error.h"

namespace cab {

int32_t keep_count(const KeepPlan &p, int32_t n) {
    const auto bad = [&](const std::string &what) {
        fail(CAB_ERR_INVALID_ARGUMENT,
             "keep plan for a stream of " + std::to_string(n) + " slots: " + what +
                 " (keep_front " + std::to_string(p.keep_front) + ", keep_back " +
                 std::to_string(p.keep_back) + ", k " + std::to_string(p.k) + ", bridges " +
                 std::to_string(p.bridges) + ")");
    };
    if (n < 0) bad("negative length");
    if (p.keep_front < 0 || p.keep_back < 0 || p.k < 0 || p.bridges < 0) bad("negative count");
    if (int64_t{p.keep_front} + p.keep_back > n) bad("the kept ends overlap");
    if (int64_t{p.k} + p.bridges > n - p.keep_front - p.keep_back)
        bad("k + bridges exceeds the slots between the kept ends");
    if (p.pool_kernel < 1 || p.pool_kernel % 2 == 0)
        bad("pool_kernel " + std::to_string(p.pool_kernel) + " is not odd and >= 1");
    if (p.pool_shift < 0 || p.pool_shift > p.pool_kernel / 2)
        bad("pool_shift " + std::to_string(p.pool_shift) +
            " is outside [0, pool_kernel / 2 = " + std::to_string(p.pool_kernel / 2) + "]");
    if (p.chunk < 1) bad("chunk " + std::to_string(p.chunk) + " is below 1");
    if (p.chunk > 1 && p.pool_kernel > 1)
        bad("chunk " + std::to_string(p.chunk) + " and pool_kernel " +
            std::to_string(p.pool_kernel) + " are both set");
    return p.keep_front + p.keep_back + p.k + p.bridges;
}

std::vector<int32_t> apply_keep_plan(const KeepPlan &p, const StreamScores &s) {
    const int32_t n = s.n;
    keep_count(p, n);
    const int32_t back = n - p.keep_back;  // first slot of the kept tail
    std::vector<int32_t> keep;
    keep.reserve(static_cast<size_t>(p.keep_front + p.keep_back + p.k + p.bridges));
    for (int32_t i = 0; i < p.keep_front; ++i) keep.push_back(i);
    if (p.ranks()) {
        const float *source = p.source == RankSource::Score    ? s.score
                              : p.source == RankSource::Window ? s.window
                                                               : s.last;
        const char *field = p.source == RankSource::Score    ? "score"
                            : p.source == RankSource::Window ? "window"
                                                             : "last";
        require(source != nullptr, CAB_ERR_INVALID_ARGUMENT,
                std::string("keep plan: ranks by '") + field + "', which is missing");
        require(!p.per_observer || s.observers != nullptr, CAB_ERR_INVALID_ARGUMENT,
                "keep plan: ranks per observer, but 'observers' is missing");
        std::vector<float> value(static_cast<size_t>(n));
        for (int32_t i = 0; i < n; ++i) {
            float v = source[i];
            if (p.per_observer) v = s.observers[i] > 0.0f ? v / s.observers[i] : 0.0f;
            value[static_cast<size_t>(i)] =
                std::isnan(v) ? -std::numeric_limits<float>::infinity() : v;
        }
        // Both read and write only the ranked range [keep_front, back).
        const float *ranked = value.data() + p.keep_front;
        const int32_t m = back - p.keep_front;
        if (p.pool_kernel > 1) {
            const std::vector<float> pooled = max_pool(ranked, m, p.pool_kernel, p.pool_shift);
            std::copy(pooled.begin(), pooled.end(), value.begin() + p.keep_front);
        }
        if (p.chunk > 1) {
            const std::vector<float> sums = chunk_sum(ranked, p.keep_front, m, p.chunk);
            std::copy(sums.begin(), sums.end(), value.begin() + p.keep_front);
        }
        std::vector<int32_t> candidates;
        candidates.reserve(static_cast<size_t>(back - p.keep_front));
        for (int32_t i = p.keep_front; i < back; ++i) candidates.push_back(i);
        const std::vector<int32_t> top = top_k(candidates, p.k, value.data());
        if (p.bridges == 0) {
            keep.insert(keep.end(), top.begin(), top.end());
        } else {
            const std::vector<int32_t> rest = without(candidates, top);
            const std::vector<int32_t> bridges =
                closest_k(rest, p.bridges, value.data(), median(rest, value.data()));
            std::merge(top.begin(), top.end(), bridges.begin(), bridges.end(),
                       std::back_inserter(keep));
        }
    }
    for (int32_t i = back; i < n; ++i) keep.push_back(i);
    return keep;
}

}  // namespace cab
