// Keep plans (policy/keep_plan.h): the form in which window, h2o, tova, snapkv, chunkkv, cab and
// full state their selection so that a device can run it. The host reference apply_keep_plan
// must give exactly what the policy's own select gives, for every budget, parameter set and
// score vector (ties included), since eviction runs the plan in the policy's place.
#include <algorithm>
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
    // cab's shares, r_local + r_bridge <= 1, with none and all of the budget among them.
    const float shares[] = {0.0f, 0.1f, 0.2f, 0.3f, 0.5f, 1.0f};
    p.r_local = shares[std::uniform_int_distribution<int>(0, 5)(rng)];
    p.r_bridge = std::min(shares[std::uniform_int_distribution<int>(0, 5)(rng)], 1.0f - p.r_local);
    return p;
}

}  // namespace

TEST_CASE("keep plans select what the policies select", "[policy][keep_plan]") {
    std::mt19937 rng(20261122);
    for (const char *name : {"full", "window", "h2o", "tova", "snapkv", "chunkkv", "cab"}) {
        const Policy *policy = find_policy(name);
        REQUIRE(policy != nullptr);
        int32_t compared = 0;
        for (int trial = 0; trial < 400; ++trial) {
            const int32_t n = std::uniform_int_distribution<int32_t>(0, 200)(rng);
            const int32_t budget = std::uniform_int_distribution<int32_t>(0, n + 4)(rng);
            const PolicyParams params = random_params(rng);
            Fixture s = random_scores(n, trial % 2 == 0, rng);
            // Every fourth trial, sinks far above the rest (as a model's), which the pool and
            // the chunk sums must leave out.
            if (trial % 4 == 1)
                for (int32_t i = 0; i < std::min(params.n_sinks, n); ++i) s.window[i] = 100.0f;
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
    for (const char *name : {"random", "cab-frc"})
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
    // Chunks aligned to slot 0 over the ranked slots 1..7 (the kept ends clip them): {1, 2} = 0
    // (slot 0 is kept and adds nothing to its chunk), {3, 4, 5} = 5, {6, 7} = 2.
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 3, 4, 5, 8, 9});
    p.k = 5;  // then {6, 7} (2) before {1, 2} (0)
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 3, 4, 5, 6, 7, 8, 9});
    p.k = 4;  // a chunk in part: from its start
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 3, 4, 5, 6, 8, 9});
    s.score[6] = -2.0f;  // {6, 7} = 0 ties {1, 2}: the earlier chunk first
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 1, 3, 4, 5, 8, 9});
    // A NaN counts as -infinity before the sum; +inf + -inf (NaN) as -infinity after it.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    s.score = {0, 0, 0, 5, nan, 5, inf, -inf, 0, 0};
    p.keep_front = 0;
    p.k = 2;
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 1, 8, 9});
}

TEST_CASE("keep plans pool and sum chunks over the ranked slots only", "[policy][keep_plan]") {
    // Slots 0, 1 (kept) draw 50 and 40, as attention sinks do; 10, 11 (kept) 7.
    Fixture s(12);
    s.window = {50, 40, 0, 0, 0, 0, 3, 0, 0, 1, 7, 7};
    KeepPlan p;
    p.source = RankSource::Window;
    p.keep_front = 2;
    p.keep_back = 2;
    p.k = 3;
    p.pool_kernel = 5;
    p.pool_shift = 2;  // [i - 4, i] within 2..9: 0 0 0 0 3 3 3 3 (from slot 0: 50 50 50 40 ...)
    const std::vector<int32_t> shifted = {0, 1, 6, 7, 8, 10, 11};
    CHECK(apply_keep_plan(p, s.view()) == shifted);
    p.pool_shift = 0;  // [i - 2, i + 2] within 2..9: 0 0 3 3 3 3 3 1
    const std::vector<int32_t> centred = {0, 1, 4, 5, 6, 10, 11};
    CHECK(apply_keep_plan(p, s.view()) == centred);
    p.pool_kernel = 1;
    p.chunk = 4;  // {2, 3} 0 (slots 0, 1 add nothing), {4..7} 3, {8, 9} 1
    p.k = 5;
    const std::vector<int32_t> chunked = {0, 1, 4, 5, 6, 7, 8, 10, 11};
    CHECK(apply_keep_plan(p, s.view()) == chunked);
    // Whatever the kept ends hold, NaN and infinities included, nothing ranked changes.
    const float inf = std::numeric_limits<float>::infinity();
    for (const float front : {inf, -inf, std::numeric_limits<float>::quiet_NaN()}) {
        INFO("front " << front);
        s.window[0] = s.window[1] = s.window[10] = front;
        CHECK(apply_keep_plan(p, s.view()) == chunked);
        p.chunk = 1;
        p.pool_kernel = 5;
        p.k = 3;
        CHECK(apply_keep_plan(p, s.view()) == centred);
        p.pool_shift = 2;
        CHECK(apply_keep_plan(p, s.view()) == shifted);
        p.pool_kernel = 1;
        p.pool_shift = 0;
        p.chunk = 4;
        p.k = 5;
    }
    // Two ranked slots between wide kept ends: the pool and the chunk stay within them.
    s.window = {9, 9, 9, 9, 9, 9, 9, 9, 9, 0, 1, 9};
    p.keep_front = 9;
    p.keep_back = 1;
    p.k = 1;
    p.chunk = 1;
    p.pool_kernel = 3;
    p.pool_shift = 1;  // [i - 2, i]: slot 9 takes 0, slot 10 takes 1
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11});
    p.pool_kernel = 1;
    p.pool_shift = 0;
    p.chunk = 8;  // [8, 16) sums slots 9 and 10 only: a tie, the earlier slot
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11});
}

TEST_CASE("keep plans equal a naive ranked-range reference", "[policy][keep_plan]") {
    std::mt19937 rng(7);
    const float inf = std::numeric_limits<float>::infinity();
    const float special[] = {std::numeric_limits<float>::quiet_NaN(), inf, -inf, -0.0f, 0.0f};
    for (int trial = 0; trial < 2000; ++trial) {
        const int32_t n = std::uniform_int_distribution<int32_t>(0, 70)(rng);
        Fixture s(n);
        for (float &v : s.window) {
            const uint32_t r = rng() % 10;
            v = r < 5 ? special[r] : static_cast<float>(rng() % 4) * 0.5f;
        }
        KeepPlan p;
        p.source = RankSource::Window;
        p.keep_front = std::uniform_int_distribution<int32_t>(0, n)(rng);
        p.keep_back = std::uniform_int_distribution<int32_t>(0, n - p.keep_front)(rng);
        const int32_t back = n - p.keep_back, m = back - p.keep_front;
        p.k = std::uniform_int_distribution<int32_t>(0, m)(rng);
        if (trial % 3 == 0) p.bridges = std::uniform_int_distribution<int32_t>(0, m - p.k)(rng);
        const int32_t kernels[] = {1, 3, 5, 15, 101};
        if (trial % 2 == 0) {
            p.pool_kernel = kernels[rng() % 5];
            p.pool_shift = static_cast<int32_t>(rng() % (p.pool_kernel / 2 + 1));
        } else {
            const int32_t chunks[] = {1, 2, 3, 4, 16, 100};
            p.chunk = chunks[rng() % 6];
        }
        // NaN -> -inf, then the pool or the chunk sums clipped to [keep_front, back).
        std::vector<float> v(static_cast<size_t>(n)), value(static_cast<size_t>(n));
        for (int32_t i = 0; i < n; ++i) v[i] = std::isnan(s.window[i]) ? -inf : s.window[i];
        for (int32_t i = p.keep_front; i < back; ++i) {
            const int32_t c0 = i / p.chunk * p.chunk;
            const int32_t lo = p.chunk > 1
                                   ? std::max(p.keep_front, c0)
                                   : std::max(p.keep_front, i - p.pool_kernel / 2 - p.pool_shift);
            const int32_t hi = p.chunk > 1
                                   ? std::min(back, c0 + p.chunk) - 1
                                   : std::min(back - 1, i + p.pool_kernel / 2 - p.pool_shift);
            float acc = p.chunk > 1 ? 0.0f : -inf;
            for (int32_t j = lo; j <= hi; ++j) acc = p.chunk > 1 ? acc + v[j] : std::max(acc, v[j]);
            value[i] = std::isnan(acc) ? -inf : acc;
        }
        std::vector<int32_t> ranked(static_cast<size_t>(m));
        for (int32_t i = 0; i < m; ++i) ranked[i] = p.keep_front + i;
        std::stable_sort(ranked.begin(), ranked.end(),
                         [&](int32_t a, int32_t b) { return value[a] > value[b]; });
        // Bridges: of the rest, in slot order, the closest to the rest's median (stable sort:
        // ties to the earlier slot; a NaN distance last).
        std::vector<int32_t> rest(ranked.begin() + p.k, ranked.end());
        std::sort(rest.begin(), rest.end());
        ranked.resize(static_cast<size_t>(p.k));
        std::vector<int32_t> expected = ranked;
        if (p.bridges > 0) {
            std::vector<double> sorted;
            for (int32_t i : rest) sorted.push_back(value[i]);
            std::sort(sorted.begin(), sorted.end());
            const size_t mid = sorted.size() / 2;
            const double median =
                sorted.size() % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2.0;
            auto dist = [&](int32_t i) {
                const double d = std::fabs(static_cast<double>(value[i]) - median);
                return std::isnan(d) ? std::numeric_limits<double>::infinity() : d;
            };
            std::stable_sort(rest.begin(), rest.end(),
                             [&](int32_t a, int32_t b) { return dist(a) < dist(b); });
            expected.insert(expected.end(), rest.begin(), rest.begin() + p.bridges);
        }
        for (int32_t i = 0; i < p.keep_front; ++i) expected.push_back(i);
        for (int32_t i = back; i < n; ++i) expected.push_back(i);
        std::sort(expected.begin(), expected.end());
        INFO("trial " << trial << " n " << n << " keep_front " << p.keep_front << " keep_back "
                      << p.keep_back << " k " << p.k << " bridges " << p.bridges << " kernel "
                      << p.pool_kernel << " shift " << p.pool_shift << " chunk " << p.chunk);
        CHECK(apply_keep_plan(p, s.view()) == expected);
    }
}

TEST_CASE("keep plans add the bridges closest to the rest's median", "[policy][keep_plan]") {
    Fixture s(8);
    s.score = {50, 9, 1, 5, 4, 6, 0, 50};
    s.observers = s.window = s.last = std::vector<float>(8, 1.0f);
    KeepPlan p;
    p.keep_front = 1;
    p.keep_back = 1;
    p.k = 1;        // slot 1 (9)
    p.bridges = 2;  // the rest 1 5 4 6 0 has median 4: slot 4 (distance 0), then slot 3 (1)
    CHECK(keep_count(p, 8) == 5);
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 1, 3, 4, 7});
    p.keep_back = 2;  // the rest 1 5 4 6 has median 4.5: slots 3 and 4 tie at 0.5
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 1, 3, 4, 6, 7});
    p.bridges = 1;  // the tie goes to the earlier slot
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 1, 3, 6, 7});
    p.k = 0;  // no top: the median of 9 1 5 4 6 is 5
    p.bridges = 2;
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 3, 4, 6, 7});
    p.k = 2;
    p.bridges = 3;  // every ranked slot
    CHECK(apply_keep_plan(p, s.view()) == std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7});
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
    bad(p, "k + bridges exceeds");
    p = KeepPlan{};
    p.k = 2;
    p.bridges = 3;
    bad(p, "k + bridges exceeds");
    p = KeepPlan{};
    p.k = -1;
    bad(p, "negative");
    p = KeepPlan{};
    p.bridges = -1;
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
