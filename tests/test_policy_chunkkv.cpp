// The chunkkv policy: hand-made window scores with answers worked out by hand (whole chunks kept
// best first, the last one from its start; sinks adding nothing to their chunk's sum; chunks
// ending at the observation window), the case it exists for (a number whose first digit alone draws
// the question's attention), and a brute-force reference on random scores.
#include <algorithm>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "policy/policy.h"
#include "policy_fixture.h"

using namespace cab;
using namespace cab::test;

TEST_CASE("chunkkv keeps whole chunks by summed window score", "[policy][chunkkv]") {
    // Chunks of 4 over slots 0..15 (16..19 are the observation window): sums 0, 5, 4, 0.
    const std::vector<float> w = {0, 0, 0, 0, 0, 0, 5, 0, 1, 1, 1, 1, 0, 0, 0, 0, 9, 9, 9, 9};
    PolicyParams p;
    p.n_sinks = 0;
    p.snapkv_window = 4;
    p.chunk_size = 4;
    CHECK(select_by_window("chunkkv", w, 8, p) == join(range(4, 8), range(16, 20)));
    CHECK(select_by_window("chunkkv", w, 12, p) == join(range(4, 12), range(16, 20)));
    // The last chunk in part, from its start.
    CHECK(select_by_window("chunkkv", w, 10, p) == join(range(4, 10), range(16, 20)));
    // A budget below the window keeps the most recent window slots.
    CHECK(select_by_window("chunkkv", w, 3, p) == range(17, 20));
    // Chunks of one slot rank slots: snapkv without pooling.
    p.chunk_size = 1;
    p.snapkv_kernel = 1;
    CHECK(select_by_window("chunkkv", w, 9, p) == select_by_window("snapkv", w, 9, p));
    CHECK(select_by_window("chunkkv", w, 9, p) == join({6, 8, 9, 10, 11}, range(16, 20)));
}

TEST_CASE("chunkkv leaves the sinks out of their chunk's sum and stops chunks at the window",
          "[policy][chunkkv]") {
    // Sinks 0, 1; window 14, 15. Chunks of 4 over the ranked 2..13: {2, 3} 0 (the sinks' 10s
    // add nothing), 2, 3, then {12, 13} 0, which would be 10 if the window's 5s spilled into it.
    const std::vector<float> w = {10, 10, 0, 0, 0, 0, 1, 1, 0, 0, 0, 3, 0, 0, 5, 5};
    PolicyParams p;
    p.n_sinks = 2;
    p.snapkv_window = 2;
    p.chunk_size = 4;
    CHECK(select_by_window("chunkkv", w, 8, p) == Slots{0, 1, 8, 9, 10, 11, 14, 15});
    // Ties between chunks go to the earlier chunk: {4..7} and {8..11} both sum 3 here.
    std::vector<float> tied = w;
    tied[5] = 1.0f;
    CHECK(select_by_window("chunkkv", tied, 8, p) == Slots{0, 1, 4, 5, 6, 7, 14, 15});
    // Recent slots are protected and end the chunks too: window 12, 13; chunks end at 12.
    p.n_recent = 2;
    CHECK(select_by_window("chunkkv", w, 10, p) == Slots{0, 1, 8, 9, 10, 11, 12, 13, 14, 15});
}

TEST_CASE("chunkkv keeps every digit of a number that snapkv cuts", "[policy][chunkkv]") {
    // A 5-digit number at slots 17..21: the question attends to its first digit, barely to the
    // rest; two distractors at 5 and 26. Sinks 0..3, observation window 32..39.
    std::vector<float> w(40, 0.0f);
    w[17] = 3.0f;
    for (int32_t i = 18; i <= 21; ++i) w[i] = 0.1f;
    w[5] = w[26] = 1.0f;
    PolicyParams p;
    p.snapkv_window = 8;
    p.snapkv_kernel = 3;
    p.chunk_size = 8;
    const int32_t budget = 4 + 8 + 8;
    // Chunk [16, 24) sums 3.4, above [0, 8) and [24, 32) at 1.
    CHECK(select_by_window("chunkkv", w, budget, p) ==
          join(join(range(0, 4), range(16, 24)), range(32, 40)));
    // snapkv keeps 16..18 around the first digit, then the distractors' neighbourhoods.
    const Slots snap = select_by_window("snapkv", w, budget, p);
    CHECK(std::count(snap.begin(), snap.end(), 18) == 1);
    CHECK(std::count(snap.begin(), snap.end(), 19) == 0);
    CHECK(std::count(snap.begin(), snap.end(), 21) == 0);
}

TEST_CASE("chunkkv matches a brute-force chunk reference on random scores", "[policy][chunkkv]") {
    std::mt19937 rng(29);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::uniform_int_distribution<int> level(0, 2);
    for (int trial = 0; trial < 60; ++trial) {
        const int32_t n = 64;
        std::vector<float> w(n);
        // Every third trial draws from three levels, so that chunk sums tie.
        for (float &v : w) v = trial % 3 == 0 ? static_cast<float>(level(rng)) : u(rng);
        PolicyParams p;
        p.n_sinks = trial % 5;
        p.n_recent = trial % 4;
        p.snapkv_window = 6;
        p.chunk_size = 1 + trial % 11;
        const int32_t budget = p.n_sinks + p.n_recent + 7 + trial % 40;
        const int32_t back = n - p.n_recent - 6;  // the chunks end at the observation window
        // and start after the sinks, aligned to slot 0.
        std::vector<float> value(static_cast<size_t>(n), 0.0f);
        for (int32_t c = 0; c * p.chunk_size < back; ++c) {
            const int32_t lo = std::max(c * p.chunk_size, p.n_sinks);
            const int32_t hi = std::min(c * p.chunk_size + p.chunk_size, back);
            float sum = 0.0f;
            for (int32_t i = lo; i < hi; ++i) sum += w[i];
            for (int32_t i = lo; i < hi; ++i) value[i] = sum;
        }
        Slots older = range(p.n_sinks, back);
        std::stable_sort(older.begin(), older.end(),
                         [&](int32_t a, int32_t b) { return value[a] > value[b]; });
        older.resize(static_cast<size_t>(budget - p.n_sinks - p.n_recent - 6));
        const Slots expected = join(join(range(0, p.n_sinks), range(back, n)), older);
        INFO("trial " << trial << " chunk " << p.chunk_size << " budget " << budget);
        CHECK(select_by_window("chunkkv", w, budget, p) == expected);
    }
}
