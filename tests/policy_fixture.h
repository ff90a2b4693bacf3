// Shared by the policy tests: per-slot score vectors that a StreamScores views, a policy's
// selection by name, and slot-list helpers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include <catch2/catch.hpp>

#include "policy/policy.h"

namespace cab::test {

using Slots = std::vector<int32_t>;

// Owns the per-slot vectors a StreamScores views: positions from 100, scores 0, one observer
// each, no keys unless a test adds them.
struct Fixture {
    std::vector<int32_t> pos;
    std::vector<float> score, observers, window, last, keys;
    int32_t head_dim = 0;

    explicit Fixture(int32_t n)
        : pos(n), score(n, 0.0f), observers(n, 1.0f), window(n, 0.0f), last(n, 0.0f) {
        std::iota(pos.begin(), pos.end(), 100);
    }
    StreamScores view() const {
        StreamScores s;
        s.n = static_cast<int32_t>(pos.size());
        s.positions = pos.data();
        s.score = score.data();
        s.observers = observers.data();
        s.window = window.data();
        s.last = last.data();
        s.keys = keys.empty() ? nullptr : keys.data();
        s.head_dim = head_dim;
        return s;
    }
};

inline Slots select(const char *name, const Fixture &s, int32_t budget, const PolicyParams &p = {},
                    uint64_t stream_seed = 0) {
    const Policy *policy = find_policy(name);
    REQUIRE(policy != nullptr);
    return policy->select(s.view(), budget, p, stream_seed);
}

// A stream whose window scores are `window`; the other scores stay at the fixture's defaults.
inline Slots select_by_window(const char *name, const std::vector<float> &window, int32_t budget,
                              const PolicyParams &p) {
    Fixture s(static_cast<int32_t>(window.size()));
    s.window = window;
    return select(name, s, budget, p);
}

inline Slots range(int32_t begin, int32_t end) {
    Slots out(static_cast<size_t>(end - begin));
    std::iota(out.begin(), out.end(), begin);
    return out;
}

// The union of two slot lists, sorted.
inline Slots join(Slots a, const Slots &b) {
    a.insert(a.end(), b.begin(), b.end());
    std::sort(a.begin(), a.end());
    return a;
}

}  // namespace cab::test
