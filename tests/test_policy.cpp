// Eviction policies (DESIGN.md section 5): each policy on hand-made score vectors with answers
// worked out by hand, the shared contract on random inputs for every policy, and brute-force
// references for the ranking policies. Budgets are in test_policy_budget.cpp.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "policy/cab_split.h"
#include "policy/forman_ricci.h"
#include "policy/key_means.h"
#include "policy/policy.h"
#include "policy/selection.h"
#include "policy_fixture.h"
#include "util/error.h"

using namespace cab;
using namespace cab::test;

namespace {

Fixture random_stream(int32_t n, std::mt19937 &rng) {
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    Fixture s(n);
    s.head_dim = 4;
    for (int32_t i = 0; i < n; ++i) {
        s.score[i] = u(rng);
        s.observers[i] = static_cast<float>(n - i);
        s.window[i] = u(rng);
        s.last[i] = u(rng);
    }
    for (int32_t i = 0; i < n * s.head_dim; ++i) s.keys.push_back(u(rng) - 0.5f);
    return s;
}

PolicyParams no_protection() {
    PolicyParams p;
    p.n_sinks = 0;
    return p;
}

template <class F>
void require_invalid(F &&f, const std::string &needle) {
    try {
        f();
        FAIL("expected CAB_ERR_INVALID_ARGUMENT mentioning '" << needle << "'");
    } catch (const Error &e) {
        CHECK(e.status() == CAB_ERR_INVALID_ARGUMENT);
        CHECK_THAT(e.what(), Catch::Contains(needle));
    }
}

// The k best of `slots` by value, ties to the earlier slot, by a full sort: the reference.
Slots sorted_top(Slots slots, int32_t k, const std::vector<float> &value) {
    std::stable_sort(slots.begin(), slots.end(),
                     [&](int32_t a, int32_t b) { return value[a] > value[b]; });
    slots.resize(static_cast<size_t>(k));
    std::sort(slots.begin(), slots.end());
    return slots;
}

}  // namespace

TEST_CASE("policy: registry lists every policy by name", "[policy]") {
    const std::vector<std::string_view> expected = {"full", "tova", "random",  "snapkv", "window",
                                                    "h2o",  "cab",  "cab-frc", "chunkkv"};
    CHECK(policy_names().size() == expected.size());
    for (std::string_view name : expected) {
        const Policy *p = find_policy(name);
        REQUIRE(p != nullptr);
        CHECK(p->name() == name);
    }
    CHECK(find_policy("H2O") == nullptr);
    CHECK(find_policy("") == nullptr);
}

TEST_CASE("policy: every policy keeps min(budget, n) sorted slots and protects sinks/recent",
          "[policy]") {
    std::mt19937 rng(7);
    for (std::string_view name : policy_names()) {
        const Policy &policy = *find_policy(name);
        const bool protects = name != "full" && name != "random";
        for (int32_t n : {0, 1, 5, 37, 70}) {
            const Fixture s = random_stream(n, rng);
            for (int32_t sinks : {0, 4}) {
                for (int32_t recent : {0, 3}) {
                    PolicyParams p;
                    p.n_sinks = sinks;
                    p.n_recent = recent;
                    p.snapkv_window = 8;
                    p.frc_block = 4;
                    for (int32_t budget = 0; budget <= n + 2; ++budget) {
                        INFO(name << " n=" << n << " sinks=" << sinks << " recent=" << recent
                                  << " budget=" << budget);
                        const Slots keep = policy.select(s.view(), budget, p, 1);
                        if (name == "full") {
                            CHECK(keep == range(0, n));
                            continue;
                        }
                        REQUIRE(keep.size() == static_cast<size_t>(std::min(budget, n)));
                        for (size_t i = 0; i < keep.size(); ++i) {
                            CHECK(keep[i] >= 0);
                            CHECK(keep[i] < n);
                            if (i > 0) CHECK(keep[i - 1] < keep[i]);
                        }
                        if (!protects || budget >= n) continue;
                        const int32_t ns = std::min(sinks, n);
                        const int32_t nr = std::min(recent, n - ns);
                        if (budget >= ns + nr) {
                            const Slots prot = join(range(0, ns), range(n - nr, n));
                            CHECK(
                                std::includes(keep.begin(), keep.end(), prot.begin(), prot.end()));
                        } else {
                            const int32_t kept_sinks = std::min(ns, budget);
                            CHECK(keep ==
                                  join(range(0, kept_sinks), range(n - (budget - kept_sinks), n)));
                        }
                    }
                }
            }
        }
    }
}

TEST_CASE("policy: budget >= length keeps all, budget 0 keeps none (sinks too)", "[policy]") {
    std::mt19937 rng(1);
    const Fixture s = random_stream(12, rng);
    for (std::string_view name : policy_names()) {
        INFO(name);
        const Policy &policy = *find_policy(name);
        CHECK(policy.select(s.view(), 12, {}, 0) == range(0, 12));
        CHECK(policy.select(s.view(), 1000, {}, 0) == range(0, 12));
        if (name != "full") CHECK(policy.select(s.view(), 0, {}, 0).empty());
    }
}

TEST_CASE("policy: protected slots beyond the budget keep sinks first, then the most recent",
          "[policy]") {
    Fixture s(10);
    PolicyParams p;
    p.n_sinks = 4;
    p.n_recent = 3;
    for (const char *name : {"window", "h2o", "tova", "snapkv", "cab", "chunkkv"}) {
        INFO(name);
        CHECK(select(name, s, 3, p) == Slots{0, 1, 2});
        CHECK(select(name, s, 5, p) == Slots{0, 1, 2, 3, 9});
        CHECK(select(name, s, 7, p) == Slots{0, 1, 2, 3, 7, 8, 9});
    }
}

TEST_CASE("policy: window keeps the sinks and the most recent slots", "[policy]") {
    Fixture s(20);
    s.score[5] = 100.0f;  // ignored: window reads no scores
    CHECK(select("window", s, 10) == join(range(0, 4), range(14, 20)));
    PolicyParams p = no_protection();
    CHECK(select("window", s, 3, p) == range(17, 20));
}

TEST_CASE("policy: ties go to the earlier slot", "[policy]") {
    Fixture s(10);  // every score, window and last equal
    PolicyParams p;
    p.n_sinks = 2;
    p.h2o_recent_ratio = 0.0f;
    CHECK(select("tova", s, 5, p) == range(0, 5));
    CHECK(select("h2o", s, 5, p) == range(0, 5));
    p.r_local = 0.0f;
    p.r_bridge = 0.0f;
    CHECK(select("cab", s, 5, p) == range(0, 5));
    s.last[7] = 1.0f;
    s.last[3] = 1.0f;
    CHECK(select("tova", s, 4, p) == Slots{0, 1, 3, 7});
}

TEST_CASE("policy: tova keeps the slots the last query attended to most", "[policy]") {
    Fixture s(8);
    s.last = {0.9f, 0.0f, 0.3f, 0.05f, 0.2f, 0.01f, 0.4f, 0.1f};
    s.score = {0, 0, 0, 9, 0, 9, 0, 0};  // ignored
    CHECK(select("tova", s, 3, no_protection()) == Slots{0, 2, 6});
    PolicyParams p;
    p.n_sinks = 1;
    CHECK(select("tova", s, 3, p) == Slots{0, 2, 6});
    p.n_sinks = 2;
    CHECK(select("tova", s, 3, p) == Slots{0, 1, 6});
}

TEST_CASE("policy: h2o keeps recent share + heavy hitters, raw or observer-normalized",
          "[policy]") {
    // Budget 7 at ratio 0.2: floor(1.4) = 1 recent slot, 6 heavy hitters.
    Fixture s(20);
    for (int32_t i = 0; i < 20; ++i) s.score[i] = static_cast<float>((i * 7) % 20);
    PolicyParams p = no_protection();
    const Slots older = range(0, 19);
    CHECK(select("h2o", s, 7, p) == join(sorted_top(older, 6, s.score), {19}));

    // Slot 0 was seen by 40 queries (mean 0.1), slot 10 by 4 (mean 0.5).
    Fixture t(20);
    for (int32_t i = 0; i < 20; ++i) {
        t.observers[i] = static_cast<float>(44 - 2 * i);
        t.score[i] = 0.01f * t.observers[i];
    }
    t.score[0] = 4.0f;
    t.observers[0] = 40.0f;
    t.score[10] = 2.0f;
    t.observers[10] = 4.0f;
    p.h2o_recent_ratio = 0.0f;
    CHECK(select("h2o", t, 1, p) == Slots{0});
    p.h2o_normalize = true;
    CHECK(select("h2o", t, 1, p) == Slots{10});
    // A slot no query saw ranks with mean 0, not infinity or NaN.
    t.observers[19] = 0.0f;
    t.score[19] = 0.0f;
    CHECK(select("h2o", t, 1, p) == Slots{10});
}

TEST_CASE("policy: h2o and tova match a full-sort reference on random scores", "[policy]") {
    std::mt19937 rng(3);
    for (int trial = 0; trial < 50; ++trial) {
        const Fixture s = random_stream(60, rng);
        PolicyParams p;
        const int32_t budget = 5 + trial;
        const int32_t k = budget - 4;
        const int32_t recent = k / 5;  // floor(k * 0.2)
        const Slots sinks = range(0, 4);
        CHECK(select("h2o", s, budget, p) ==
              join(join(sinks, range(60 - recent, 60)),
                   sorted_top(range(4, 60 - recent), k - recent, s.score)));
        CHECK(select("tova", s, budget, p) == join(sinks, sorted_top(range(4, 60), k, s.last)));
    }
}

TEST_CASE("policy: snapkv max-pools window scores before the observation window", "[policy]") {
    Fixture s(16);
    s.window = {0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1, 9, 9, 9, 9};
    PolicyParams p = no_protection();
    p.snapkv_window = 4;
    p.snapkv_kernel = 3;
    // Pooled over slots 0..11: slots 2, 3, 4 get 5; 10 and 11 get 1 (the window's 9s do not
    // leak into slot 11); the rest 0.
    CHECK(select("snapkv", s, 7, p) == Slots{2, 3, 4, 12, 13, 14, 15});
    CHECK(select("snapkv", s, 8, p) == Slots{2, 3, 4, 10, 12, 13, 14, 15});
    // Kernel 1 is no pooling.
    p.snapkv_kernel = 1;
    CHECK(select("snapkv", s, 6, p) == Slots{3, 11, 12, 13, 14, 15});
    // A budget below the window keeps the most recent window slots.
    CHECK(select("snapkv", s, 3, p) == Slots{13, 14, 15});
}

TEST_CASE("policy: max_pool's shift moves the window back", "[policy]") {
    // Kernel 3, shift 1: slot i pools [i - 2, i], so the 5 at slot 2 lifts slots 2..4.
    const std::vector<float> v = {0, 0, 5, 0, 0, 0, 0};
    CHECK(max_pool(v.data(), 7, 3, 1) == std::vector<float>{0, 0, 5, 5, 5, 0, 0});
    CHECK(max_pool(v.data(), 7, 3, 0) == std::vector<float>{0, 5, 5, 5, 0, 0, 0});
    // Kernel 5, shift 2: [i - 4, i]; the edges clip.
    const std::vector<float> w = {3, 0, 0, 0, 0, 9, 0, 1};
    CHECK(max_pool(w.data(), 8, 5, 2) == std::vector<float>{3, 3, 3, 3, 3, 9, 9, 9});
    CHECK(max_pool(w.data(), 6, 5, 2) == std::vector<float>{3, 3, 3, 3, 3, 9});
}

TEST_CASE("policy: max_pool equals a naive window for any kernel and shift", "[policy]") {
    std::mt19937 rng(29);
    for (int trial = 0; trial < 500; ++trial) {
        const int32_t n = static_cast<int32_t>(rng() % 40);
        const int32_t kernel =
            trial % 10 == 0 ? 2147483647 : 1 + 2 * static_cast<int32_t>(rng() % 25);
        const int32_t shift = static_cast<int32_t>(rng() % (kernel / 2 + 1));
        std::vector<float> v(static_cast<size_t>(n));
        for (float &x : v) x = static_cast<float>(rng() % 7);  // ties
        std::vector<float> want(static_cast<size_t>(n));
        const int64_t before = int64_t{kernel / 2} + shift, after = int64_t{kernel / 2} - shift;
        for (int32_t i = 0; i < n; ++i) {
            want[i] = -1.0f;
            for (int64_t j = std::max<int64_t>(0, i - before);
                 j <= std::min<int64_t>(n - 1, i + after); ++j)
                want[i] = std::max(want[i], v[static_cast<size_t>(j)]);
        }
        INFO("n " << n << " kernel " << kernel << " shift " << shift);
        CHECK(max_pool(v.data(), n, kernel, shift) == want);
    }
}

TEST_CASE("policy: snapkv matches a naive max-pool reference on random scores", "[policy]") {
    std::mt19937 rng(11);
    for (int trial = 0; trial < 60; ++trial) {
        const Fixture s = random_stream(50, rng);
        PolicyParams p;
        p.snapkv_window = 6;
        p.snapkv_kernel = 1 + 2 * (trial % 5);
        p.snapkv_shift = (trial / 5) % (p.snapkv_kernel / 2 + 1);
        const int32_t budget = 12 + trial % 30;
        const int32_t half = p.snapkv_kernel / 2, prefix = 50 - 6;
        // The pool reads only the ranked slots: after the 4 sinks, before the window.
        std::vector<float> pooled(50, 0.0f);
        for (int32_t i = 4; i < prefix; ++i) {
            pooled[i] = -1.0f;
            for (int32_t j = std::max(4, i - half - p.snapkv_shift);
                 j <= std::min(prefix - 1, i + half - p.snapkv_shift); ++j)
                pooled[i] = std::max(pooled[i], s.window[j]);
        }
        const Slots expected = join(join(range(0, 4), range(prefix, 50)),
                                    sorted_top(range(4, prefix), budget - 10, pooled));
        INFO("trial " << trial << " kernel " << p.snapkv_kernel << " shift " << p.snapkv_shift);
        CHECK(select("snapkv", s, budget, p) == expected);
    }
}

TEST_CASE("policy: cab splits k into exact local / importance / median bridges", "[policy]") {
    // k = 13: L = floor(3.9) = 3, Bg = floor(2.6) = 2, I = 8.
    Fixture s(40);
    for (int32_t i = 0; i < 40; ++i) s.score[i] = static_cast<float>(i);
    PolicyParams p = no_protection();
    const CabSplit split = split_cab(range(0, 40), 13, s.score.data(), p);
    CHECK(split.local == range(37, 40));
    CHECK(split.importance == range(29, 37));
    CHECK(split.n_bridges == 2);
    CHECK(split.remaining == range(0, 29));
    // Remaining scores 0..28 have median 14; 13 and 15 tie at distance 1: the earlier wins.
    CHECK(select("cab", s, 13, p) == join({13, 14}, range(29, 40)));

    // Ratios that are not exact in binary still split as the decimals say.
    CHECK(share_of(10, 0.7f) == 7);
    CHECK(share_of(100, 0.29f) == 29);
    CHECK(share_of(7, 0.5f) == 3);
    p.r_local = 0.7f;
    p.r_bridge = 0.3f;
    const CabSplit all_local = split_cab(range(0, 40), 10, s.score.data(), p);
    CHECK(all_local.local.size() == 7);
    CHECK(all_local.importance.empty());
    CHECK(all_local.n_bridges == 3);

    // With the 4 default sinks, the split runs on k = 13 - 4 = 9: L = 2, Bg = 1, I = 6:
    // local {38, 39}, importance {32..37}, remaining 4..31 with median 17.5 -> 17 (earlier).
    CHECK(select("cab", s, 13, {}) == join(join(range(0, 4), {17}), range(32, 40)));
}

TEST_CASE("policy: cab bridges straddle an even-count median, score source selectable",
          "[policy]") {
    // k = 5 with r_local 0.2, r_bridge 0.4: L = 1, Bg = 2, I = 2.
    Fixture s(9);
    s.score = {1, 2, 10, 11, 50, 60, 3, 0, 0};
    PolicyParams p = no_protection();
    p.r_local = 0.2f;
    p.r_bridge = 0.4f;
    // Importance {4, 5}; remaining slots 0,1,2,3,6,7 scores {1,2,10,11,3,0}: median (2+3)/2 =
    // 2.5; closest are 2 (slot 1) and 3 (slot 6).
    CHECK(select("cab", s, 5, p) == Slots{1, 4, 5, 6, 8});
    // The window source ranks by the window score instead.
    s.window = {9, 8, 0, 0, 0, 0, 0, 5, 0};
    p.cab_score_source = ScoreSource::Window;
    CHECK(select("cab", s, 5, p) == Slots{0, 1, 2, 3, 8});
}

TEST_CASE("policy: forman-ricci curvature on hand-computed graphs", "[policy]") {
    // Path 0 -(0.5)- 1 -(1)- 2, and an isolated node 3. S = {0.5, 1.5, 1, 0}, no triangles:
    // F01 = 2 - 0.5 - 1.5 = 0, F12 = 4 - 1.5 - 1 = 1.5; c = {0, (0.5*0 + 1*1.5)/1.5, 1.5, 0}.
    const std::vector<double> path = {0, 0.5, 0, 0, 0.5, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    const std::vector<double> c = forman_ricci_curvature(path, 4);
    CHECK(c[0] == Approx(0.0).margin(1e-12));
    CHECK(c[1] == Approx(1.0));
    CHECK(c[2] == Approx(1.5));
    CHECK(c[3] == 0.0);
    // Unit triangle: S = 2, T = 1 on every edge, F = 4 - 4 + 3 = 3.
    const std::vector<double> tri = {0, 1, 1, 1, 0, 1, 1, 1, 0};
    for (double v : forman_ricci_curvature(tri, 3)) CHECK(v == Approx(3.0));
    // Cosine graph: negative cosines are cut to 0; a zero vector is isolated.
    const std::vector<float> pts = {1, 0, 1, 1, -1, 0, 0, 0};
    const std::vector<double> a = cosine_adjacency(pts.data(), 4, 2);
    CHECK(a[0 * 4 + 1] == Approx(std::sqrt(0.5)));
    CHECK(a[1 * 4 + 0] == Approx(std::sqrt(0.5)));
    CHECK(a[0 * 4 + 2] == 0.0);
    CHECK(a[0 * 4 + 0] == 0.0);
    CHECK(a[1 * 4 + 3] == 0.0);
}

TEST_CASE("policy: cab-frc takes bridges from the block between two key clusters", "[policy]") {
    // 7 blocks of 4 slots: blocks 0-2 keys near e1, block 3 near e3 (weakly tied to both
    // clusters), blocks 4-6 near e2.
    Fixture s(28);
    s.head_dim = 3;
    for (int32_t i = 0; i < 28; ++i) {
        const int32_t b = i / 4;
        const float jitter = 0.01f * static_cast<float>(i % 4);
        std::vector<float> k = b < 3    ? std::vector<float>{1, jitter, 0}
                               : b == 3 ? std::vector<float>{0.1f, 0.1f, 1.0f + jitter}
                                        : std::vector<float>{jitter, 1, 0};
        s.keys.insert(s.keys.end(), k.begin(), k.end());
        s.score[i] = b == 3 ? 0.1f : 1.0f;
    }
    s.score[0] = s.score[1] = s.score[2] = 10.0f;
    s.score[13] = 0.3f;
    s.score[14] = 0.5f;

    // The bridge block has the lowest curvature, and it is negative.
    std::vector<float> pooled;
    for (int32_t b = 0; b < 7; ++b)
        for (int32_t c = 0; c < 3; ++c) {
            float m = 0.0f;
            for (int32_t i = 0; i < 4; ++i) m += s.keys[(b * 4 + i) * 3 + c] / 4.0f;
            pooled.push_back(m);
        }
    const std::vector<double> curv =
        forman_ricci_curvature(cosine_adjacency(pooled.data(), 7, 3), 7);
    CHECK(std::min_element(curv.begin(), curv.end()) - curv.begin() == 3);
    CHECK(curv[3] < 0.0);

    PolicyParams p = no_protection();
    p.frc_block = 4;
    p.r_bridge = 0.4f;  // k = 10: L = 3, Bg = 4, I = 3
    CHECK(select("cab-frc", s, 10, p) == join({0, 1, 2, 12, 13, 14, 15}, range(25, 28)));
    // cab's median rule takes mid-score slots instead (score 1.0, the earliest).
    CHECK(select("cab", s, 10, p) == join({0, 1, 2, 3, 4, 5, 6}, range(25, 28)));
    // Fewer bridges than the block holds: its best-scored slots first.
    p.r_bridge = 0.2f;  // k = 10: L = 3, Bg = 2, I = 5
    const Slots kept = select("cab-frc", s, 10, p);
    CHECK(kept == join({0, 1, 2, 3, 4, 13, 14}, range(25, 28)));

    // Streams longer than frc_block * frc_max_blocks use bigger blocks: same answer here.
    p.r_bridge = 0.4f;
    p.frc_block = 2;
    p.frc_max_blocks = 7;
    CHECK(select("cab-frc", s, 10, p) == join({0, 1, 2, 12, 13, 14, 15}, range(25, 28)));
}

TEST_CASE("policy: cab-frc given its keys' means selects what it selects given the keys",
          "[policy]") {
    // What eviction hands it: the executor pools the keys where they are (key_means).
    std::mt19937 rng(31);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int trial = 0; trial < 60; ++trial) {
        const int32_t n = std::uniform_int_distribution<int32_t>(1, 700)(rng);
        Fixture s(n);
        s.head_dim = 1 + trial % 9;
        s.keys.resize(static_cast<size_t>(n) * s.head_dim);
        for (float &k : s.keys) k = normal(rng);
        for (float &v : s.score) v = std::fabs(normal(rng));
        PolicyParams p = no_protection();
        p.n_sinks = trial % 3;
        p.frc_block = 1 + trial % 7;
        p.frc_max_blocks = trial % 2 == 0 ? 128 : 9;
        p.r_bridge = 0.4f;
        const int32_t budget = std::uniform_int_distribution<int32_t>(0, n)(rng);
        const int32_t run = frc_run_length(n, p);
        std::vector<float> means(static_cast<size_t>(run_count(n, run)) * s.head_dim);
        key_means(s.keys.data(), n, s.head_dim, run, means.data());
        StreamScores pooled = s.view();
        pooled.keys = nullptr;
        pooled.key_means = means.data();
        pooled.key_run = run;
        INFO("trial " << trial << ", n " << n << ", run " << run << ", budget " << budget);
        const Policy *frc = find_policy("cab-frc");
        CHECK(frc->select(pooled, budget, p, 0) == select("cab-frc", s, budget, p));
        if (budget < n) {
            pooled.key_run = run + 1;
            require_invalid([&] { frc->select(pooled, budget, p, 0); }, "runs of");
        }
    }
}

TEST_CASE("policy: random is seeded, reproducible, unprotected and uniform", "[policy]") {
    Fixture s(20);
    PolicyParams p;
    p.seed = 42;
    const Slots a = select("random", s, 5, p, 3);
    CHECK(select("random", s, 5, p, 3) == a);
    CHECK(select("random", s, 5, p, 4) != a);
    p.seed = 43;
    CHECK(select("random", s, 5, p, 3) != a);

    std::vector<int> count(20, 0);
    const int trials = 4000;
    for (int t = 0; t < trials; ++t) {
        p.seed = static_cast<uint64_t>(t);
        for (int32_t slot : select("random", s, 5, p, 0)) ++count[slot];
    }
    // Each slot is kept with probability 1/4: 1000 expected, sd ~27.
    for (int c : count) CHECK(std::abs(c - trials / 4) < 150);
}

TEST_CASE("policy: invalid params and inputs are CAB_ERR_INVALID_ARGUMENT naming the field",
          "[policy]") {
    std::mt19937 rng(5);
    const Fixture s = random_stream(10, rng);
    auto with = [&](auto change, const std::string &field) {
        PolicyParams p;
        change(p);
        require_invalid([&] { validate(p); }, field);
        require_invalid([&] { select("window", s, 3, p); }, field);
    };
    with([](PolicyParams &p) { p.n_sinks = -1; }, "n_sinks");
    with([](PolicyParams &p) { p.n_recent = -2; }, "n_recent");
    with([](PolicyParams &p) { p.h2o_recent_ratio = 1.5f; }, "h2o_recent_ratio");
    with([](PolicyParams &p) { p.snapkv_window = 0; }, "snapkv_window");
    with([](PolicyParams &p) { p.snapkv_kernel = 4; }, "snapkv_kernel");
    with([](PolicyParams &p) { p.snapkv_kernel = 0; }, "snapkv_kernel");
    with([](PolicyParams &p) { p.snapkv_shift = 4; }, "snapkv_shift");  // kernel 7
    with([](PolicyParams &p) { p.snapkv_shift = -1; }, "snapkv_shift");
    with([](PolicyParams &p) { p.r_local = -0.1f; }, "r_local");
    with([](PolicyParams &p) { p.r_bridge = std::nanf(""); }, "r_bridge");
    with(
        [](PolicyParams &p) {
            p.r_local = 0.6f;
            p.r_bridge = 0.5f;
        },
        "r_local + r_bridge");
    with([](PolicyParams &p) { p.frc_block = 0; }, "frc_block");
    with([](PolicyParams &p) { p.frc_max_blocks = 0; }, "frc_max_blocks");
    with([](PolicyParams &p) { p.chunk_size = 0; }, "chunk_size");
    PolicyParams ok;
    ok.r_local = 0.6f;
    ok.r_bridge = 0.4f;
    CHECK_NOTHROW(validate(ok));

    require_invalid([&] { select("h2o", s, -1); }, "budget");
    Fixture bad = s;
    bad.pos[5] = bad.pos[4];
    require_invalid([&] { select("window", bad, 3); }, "positions");
    bad = s;
    bad.score[2] = std::nanf("");
    require_invalid([&] { select("h2o", bad, 3); }, "score[2]");

    StreamScores v = s.view();
    v.score = nullptr;
    require_invalid([&] { find_policy("h2o")->select(v, 3, {}, 0); }, "score");
    require_invalid([&] { find_policy("cab")->select(v, 3, {}, 0); }, "score");
    v = s.view();
    v.window = nullptr;
    require_invalid([&] { find_policy("snapkv")->select(v, 3, {}, 0); }, "window");
    require_invalid([&] { find_policy("chunkkv")->select(v, 3, {}, 0); }, "window");
    v = s.view();
    v.last = nullptr;
    require_invalid([&] { find_policy("tova")->select(v, 3, {}, 0); }, "last");
    v = s.view();
    v.observers = nullptr;
    PolicyParams norm;
    norm.h2o_normalize = true;
    require_invalid([&] { find_policy("h2o")->select(v, 3, norm, 0); }, "observers");
    v = s.view();
    v.keys = nullptr;
    require_invalid([&] { find_policy("cab-frc")->select(v, 3, {}, 0); }, "keys");
    v = s.view();
    v.head_dim = 0;
    require_invalid([&] { find_policy("cab-frc")->select(v, 3, {}, 0); }, "head_dim");
}
