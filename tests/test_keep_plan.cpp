// Keep plans (policy/keep_plan.h): the form in which window, h2o, tova, snapkv, chunkkv and full
// state their selection so that a device can run it. The host reference apply_keep_plan must give
// exactly what the policy's own select gives, for every budget, parameter set and score vector
// (ties included), since eviction runs the plan in the policy's place.
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "policy/keep_plan.h"
#include "policy/policy.h"
#include "policy_fixture.h"
#include "util/error.h"

using namespace cab;

namespace {

using test::Fixture;

// Values drawn from a few levels when `tied`, so that ranking ties are common.
Fixture random_scores(int32_t n, bool tied, std::mt19937 &rng) {
    std::uniform_real_distribution<float> u(0.0f, 4.0f);
    std::uniform_int_distribution<int> level(0, 3), seen(0, 5);
    auto draw = [&] { return tied ? static_cast<float>(level(rng)) * 0.25f : u(rng); };
    Fixture s(n);
    for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
        s.score[i] = draw();
        s.observers[i] = static_cast<float>(seen(rng));  // zeros included
        s.window[i] = draw();
        s.last[i] = draw();
    }
    return s;
}

PolicyParams random_params(std::mt19937 &rng) {
    std::uniform_int_distribution<int> sinks(0, 6), recent(0, 12), window(1, 40), coin(0, 1);
    PolicyParams p;
    p.n_sinks = sinks(rng);
    p.n_recent = recent(rng);
    p.h2o_normalize = coin(rng) == 1;
    p.cab_score_source = coin(rng) == 1 ? ScoreSource::Window : ScoreSource::Cumulative;
    p.h2o_recent_ratio = std::uniform_real_distribution<float>(0.0f, 1.0f)(rng);
    p.snapkv_window = window(rng);
    // Narrow and wide pools, one wider than any stream; any shift the kernel allows.
    const int32_t kernels[] = {1, 3, 5, 7, 23, 401};
    p.snapkv_kernel = kernels[std::uniform_int_distribution<int>(0, 5)(rng)];
    p.snapkv_shift = std::uniform_int_distribution<int32_t>(0, p.snapkv_kernel / 2)(rng);
    // Chunks of one slot, a few, about the stream, and wider than any stream.
    const int32_t chunks[] = {1, 2, 3, 4, 7, 16, 50, 1000};
    p.chunk_size = chunks[std::uniform_int_distribution<int>(0, 7)(rng)];
    return p;
}

}  // namespace

TEST_CASE("keep plans select what the policies select", "[policy][keep_plan]") {
    std::mt19937 rng(20261122);
    for (const char *name : {"full", "window", "h2o", "tova", "snapkv", "chunkkv"}) {
        const Policy *policy = find_policy(name);
        REQUIRE(policy != nullptr);
        int32_t compared = 0;
        for (int trial = 0; trial < 400; ++trial) {
            const int32_t n = std::uniform_int_distribution<int32_t>(0, 200)(rng);
            const int32_t budget = std::uniform_int_distribution<int32_t>(0, n + 4)(rng);
            const PolicyParams params = random_params(rng);
            const Fixture s = random_scores(n, trial % 2 == 0, rng);
            const std::optional<KeepPlan> plan = policy->keep_plan(n, budget, params);
            REQUIRE(plan.has_value());
            const std::vector<int32_t> expected = policy->select(s.view(), budget, params, 7);
            INFO(name << " n " << n << " budget " << budget << " sinks " << params.n_sinks
                      << " recent " << params.n_recent << " kernel " << params.snapkv_kernel
                      << " shift " << params.snapkv_shift << " chunk " << params.chunk_size);
            CHECK(keep_count(*plan, n) == static_cast<int32_t>(expected.size()));
            CHECK(apply_keep_plan(*plan, s.view()) == expected);
            ++compared;
        }
        CHECK(compared == 400);
    }
}

TEST_CASE("policies without a plan form say so", "[policy][keep_plan]") {
    for (const char *name : {"random", "cab", "cab-frc"})
        CHECK_FALSE(find_policy(name)->keep_plan(100, 10, PolicyParams{}).has_value());
    CHECK_THROWS_AS(find_policy("h2o")->keep_plan(10, -1, PolicyParams{}), Error);
    PolicyParams bad;
    bad.snapkv_kernel = 2;
    CHECK_THROWS_AS(find_policy("snapkv")->keep_plan(10, 5, bad), Error);
    bad.snapkv_kernel = 5;
    bad.snapkv_shift = 3;
    CHECK_THROWS_WITH(find_policy("snapkv")->keep_plan(10, 5, bad),
                      Catch::Contains("snapkv_shift"));
    bad.snapkv_shift = 2;
    bad.snapkv_window = 2;  // so that the plan ranks, and pools
    const std::optional<KeepPlan> shifted = find_policy("snapkv")->keep_plan(100, 20, bad);
    CHECK((shifted->pool_kernel == 5 && shifted->pool_shift == 2));
    PolicyParams no_chunk;
    no_chunk.chunk_size = 0;
    CHECK_THROWS_WITH(find_policy("chunkkv")->keep_plan(10, 5, no_chunk),
                      Catch::Contains("chunk_size"));
}

TEST_CASE("keep plans rank by their source, per observer, pooled", "[policy][keep_plan]") {
    Fixture s(6);
    s.score = {5, 1, 9, 2, 8, 3};
    s.observers = {5, 0, 3, 2, 2, 1};
    s.window = {0, 7, 0, 0, 0, 6};
    s.last = {1, 2, 3, 4, 5, 6};
    KeepPlan p;
    p.k = 2;
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{2, 4});
    p.per_observer = true;  // means 1, 0 (no observer), 3, 1, 4, 3: ties go to the earlier slot
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{2, 4});
    p.k = 3;
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{2, 4, 5});
    p = KeepPlan{};
    p.source = RankSource::Window;
    p.keep_back = 1;
    p.k = 2;
    p.pool_kernel = 3;  // pooled over slots 0..4: 7 7 7 0 0 (slot 5 is in the kept tail)
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 1, 5});
    p.pool_shift = 1;  // windows [i - 2, i]: 0 7 7 7 0, ties to the earlier slot
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{1, 2, 5});
    p = KeepPlan{};
    p.source = RankSource::Last;
    p.keep_front = 1;
    p.keep_back = 1;
    p.k = 1;
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 4, 5});
}

TEST_CASE("keep plans rank chunks by their summed value", "[policy][keep_plan]") {
    Fixture s(10);
    s.score = {1, 0, 0, 3, 1, 1, 0, 2, 9, 9};
    s.observers = s.window = s.last = std::vector<float>(10, 1.0f);
    KeepPlan p;
    p.keep_front = 1;
    p.keep_back = 2;
    p.k = 3;
    p.chunk = 3;
    // Chunks over slots 0..7 (the kept tail ends them): {0,1,2} = 1, {3,4,5} = 5, {6,7} = 2.
    // Slot 0 counts in its chunk's sum but is kept anyway.
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 3, 4, 5, 8, 9});
    p.k = 5;  // then {6, 7} (2) before {1, 2} (1)
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 3, 4, 5, 6, 7, 8, 9});
    p.k = 4;  // a chunk in part: from its start
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 3, 4, 5, 6, 8, 9});
    s.score[6] = -1.0f;  // {6, 7} = 1 ties {0, 1, 2}: the earlier chunk first
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 1, 3, 4, 5, 8, 9});
    // A NaN counts as -infinity before the sum; +inf + -inf (NaN) as -infinity after it.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    s.score = {0, 0, 0, 5, nan, 5, inf, -inf, 0, 0};
    p.keep_front = 0;
    p.k = 2;
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 1, 8, 9});
}

TEST_CASE("keep plans count NaN as -infinity", "[policy][keep_plan]") {
    Fixture s(4);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    s.score = {nan, -std::numeric_limits<float>::infinity(), nan, 0.5f};
    s.observers = s.window = s.last = {1, 1, 1, 1};
    KeepPlan p;
    p.k = 2;
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 3});
}

TEST_CASE("keep plans reject what cannot hold", "[policy][keep_plan]") {
    Fixture s(4);
    s.score = s.observers = s.window = s.last = {1, 2, 3, 4};
    auto bad = [&](KeepPlan p, const char *what) {
        CHECK_THROWS_WITH(keep_count(p, 4), Catch::Contains(what));
        CHECK_THROWS_AS(apply_keep_plan(p, s.view()), Error);
    };
    KeepPlan p;
    p.keep_front = 3;
    p.keep_back = 2;
    bad(p, "overlap");
    p = KeepPlan{};
    p.keep_front = 1;
    p.k = 4;
    bad(p, "k exceeds");
    p = KeepPlan{};
    p.k = -1;
    bad(p, "negative");
    p = KeepPlan{};
    p.pool_kernel = 4;
    bad(p, "pool_kernel");
    p = KeepPlan{};
    p.pool_kernel = 5;
    p.pool_shift = 3;
    bad(p, "pool_shift 3");
    p.pool_shift = -1;
    bad(p, "pool_shift -1");
    p = KeepPlan{};
    p.pool_shift = 1;  // kernel 1 allows no shift
    bad(p, "pool_shift 1");
    p = KeepPlan{};
    p.chunk = 0;
    bad(p, "chunk 0");
    p = KeepPlan{};
    p.chunk = 2;
    p.pool_kernel = 3;
    bad(p, "both set");
    CHECK(keep_count(KeepPlan{}, 0) == 0);
    p = KeepPlan{};
    p.k = 1;
    StreamScores missing;
    missing.n = 4;
    CHECK_THROWS_WITH(apply_keep_plan(p, missing), Catch::Contains("'score'"));
    p.k = 0;
    p.keep_back = 4;
    CHECK(apply_keep_plan(p, missing) == std::vector<int32_t>{0, 1, 2, 3});
}
