// Sampler: greedy, top-k, top-p, min-p, repetition penalty, seeding and the distribution of draws,
// each checked against a reference computed here from the definitions.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "runtime/sampler.h"
#include "util/error.h"

namespace {

using cab::Sampler;

cab_sampler_params make_params(float temperature) {
    cab_sampler_params p{};
    p.struct_size = sizeof(cab_sampler_params);
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = 0;
    return p;
}

int32_t sample_once(const cab_sampler_params &p, const std::vector<float> &logits,
                    const std::vector<int32_t> &history = {}) {
    Sampler s(p);
    return s.sample(logits.data(), static_cast<int32_t>(logits.size()), history);
}

std::vector<float> log_probs(const std::vector<double> &probs) {
    std::vector<float> out;
    for (double p : probs) out.push_back(static_cast<float>(std::log(p)));
    return out;
}

std::vector<float> random_logits(size_t n, uint64_t seed, float scale) {
    std::mt19937_64 rng(seed);
    std::vector<float> out(n);
    // A simple portable mapping of raw bits, so the test data is the same everywhere.
    for (auto &x : out) x = scale * (static_cast<float>(rng() >> 40) / 16777216.0f - 0.5f);
    return out;
}

// Reference softmax with temperature, in double.
std::vector<double> softmax(const std::vector<float> &logits, double t) {
    const double m = *std::max_element(logits.begin(), logits.end());
    std::vector<double> p(logits.size());
    double z = 0;
    for (size_t i = 0; i < logits.size(); ++i) z += p[i] = std::exp((logits[i] - m) / t);
    for (auto &x : p) x /= z;
    return p;
}

// Token ids ordered best first (ties: lower id first), as the definition of top-k/top-p implies.
std::vector<int32_t> ranking(const std::vector<float> &logits) {
    std::vector<int32_t> ids(logits.size());
    std::iota(ids.begin(), ids.end(), 0);
    std::stable_sort(ids.begin(), ids.end(),
                     [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    return ids;
}

std::vector<int> histogram(Sampler &s, const std::vector<float> &logits, int draws) {
    std::vector<int> counts(logits.size(), 0);
    for (int i = 0; i < draws; ++i)
        ++counts[static_cast<size_t>(
            s.sample(logits.data(), static_cast<int32_t>(logits.size()), {}))];
    return counts;
}

// Every bin within 5 binomial standard deviations of its expectation (plus one count of slack
// for bins whose expected count is tiny); bins of probability 0 must stay empty.
void check_distribution(const std::vector<int> &counts, const std::vector<double> &expected,
                        int draws) {
    for (size_t i = 0; i < counts.size(); ++i) {
        const double mean = draws * expected[i];
        const double sigma = std::sqrt(draws * expected[i] * (1.0 - expected[i]));
        INFO("token " << i << ": " << counts[i] << " draws, expected " << mean);
        if (expected[i] == 0.0) {
            CHECK(counts[i] == 0);
        } else {
            CHECK(std::abs(counts[i] - mean) <= 5.0 * sigma + 1.0);
        }
    }
}

void require_invalid(const cab_sampler_params &p, const std::string &field) {
    try {
        Sampler s(p);
        FAIL("no error for a bad " << field);
    } catch (const cab::Error &e) {
        CHECK(e.status() == CAB_ERR_INVALID_ARGUMENT);
        CHECK_THAT(e.what(), Catch::Contains(field));
    }
}

}  // namespace

TEST_CASE("sampler: greedy picks the argmax", "[sampler]") {
    const auto p = make_params(0.0f);
    CHECK(sample_once(p, {0.1f, 2.5f, -1.0f, 2.4f}) == 1);
    CHECK(sample_once(p, {-3.0f, -2.0f, -7.0f}) == 1);
    CHECK(sample_once(p, {5.0f}) == 0);
    const auto logits = random_logits(5000, 7, 20.0f);
    const auto best = std::max_element(logits.begin(), logits.end()) - logits.begin();
    CHECK(sample_once(p, logits) == best);
}

TEST_CASE("sampler: greedy breaks ties by the lowest id", "[sampler]") {
    const auto p = make_params(0.0f);
    CHECK(sample_once(p, {1.0f, 3.0f, 3.0f, 0.0f}) == 1);
    CHECK(sample_once(p, {2.0f, 2.0f, 2.0f}) == 0);
    CHECK(sample_once(p, {0.0f, -1.0f, 4.0f, 4.0f, 4.0f}) == 2);
}

TEST_CASE("sampler: NaN and infinite logits", "[sampler]") {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    for (float t : {0.0f, 1.0f}) {
        auto p = make_params(t);
        CHECK(sample_once(p, {nan, -5.0f, nan}) == 1);
        CHECK(sample_once(p, {-inf, -inf, 0.0f}) == 2);
        CHECK(sample_once(p, {1.0f, inf, 3.0f}) == 1);
        for (const auto &bad :
             {std::vector<float>{nan, nan}, std::vector<float>{-inf, nan, -inf}}) {
            try {
                sample_once(p, bad);
                FAIL("no error when every logit is NaN or -inf");
            } catch (const cab::Error &e) {
                CHECK(e.status() == CAB_ERR_STATE);
            }
        }
    }
    Sampler s(make_params(1.0f));
    CHECK_THROWS_AS(s.sample(nullptr, 4, {}), cab::Error);
    const float one = 1.0f;
    CHECK_THROWS_AS(s.sample(&one, 0, {}), cab::Error);
}

TEST_CASE("sampler: top-k = 1 equals greedy at any temperature", "[sampler]") {
    for (uint64_t seed = 0; seed < 20; ++seed) {
        // Coarse values make ties likely, so the tie rule is exercised too.
        auto logits = random_logits(300, seed, 8.0f);
        for (auto &x : logits) x = std::round(x);
        const int32_t greedy = sample_once(make_params(0.0f), logits);
        for (float t : {0.01f, 1.0f, 10.0f, 1000.0f}) {
            auto p = make_params(t);
            p.top_k = 1;
            p.seed = seed;
            CHECK(sample_once(p, logits) == greedy);
        }
    }
}

TEST_CASE("sampler: top-p keeps the smallest prefix reaching p", "[sampler]") {
    // Probabilities 0.5, 0.3, 0.15, 0.05 placed at scrambled ids.
    const std::vector<double> probs = {0.15, 0.5, 0.05, 0.3};
    const auto logits = log_probs(probs);
    struct Case {
        float top_p;
        std::set<int32_t> kept;
    };
    for (const Case &c : {Case{0.4f, {1}}, Case{0.7f, {1, 3}}, Case{0.79f, {1, 3}},
                          Case{0.81f, {0, 1, 3}}, Case{0.96f, {0, 1, 2, 3}}}) {
        auto p = make_params(1.0f);
        p.top_p = c.top_p;
        p.seed = 42;
        Sampler s(p);
        std::set<int32_t> seen;
        for (int i = 0; i < 2000; ++i) seen.insert(s.sample(logits.data(), 4, {}));
        INFO("top_p " << c.top_p);
        CHECK(seen == c.kept);
    }
}

TEST_CASE("sampler: top-p with a large nucleus matches the renormalized reference", "[sampler]") {
    // A flat distribution over 1000 tokens: the nucleus holds hundreds of tokens, more than one
    // round of partial sorting.
    const auto logits = random_logits(1000, 3, 2.0f);
    const double top_p = 0.6;
    const auto probs = softmax(logits, 1.0);
    std::vector<double> expected(logits.size(), 0.0);
    double cum = 0.0;
    size_t kept = 0;
    for (int32_t id : ranking(logits)) {
        expected[static_cast<size_t>(id)] = probs[static_cast<size_t>(id)];
        cum += probs[static_cast<size_t>(id)];
        ++kept;
        if (cum >= top_p) break;
    }
    REQUIRE(kept > 200);
    for (auto &x : expected) x /= cum;

    auto p = make_params(1.0f);
    p.top_p = static_cast<float>(top_p);
    p.seed = 5;
    Sampler s(p);
    const int draws = 20000;
    check_distribution(histogram(s, logits, draws), expected, draws);
}

TEST_CASE("sampler: min-p drops tokens below min_p * p(best)", "[sampler]") {
    const std::vector<double> probs = {0.05, 0.3, 0.5, 0.15};
    const auto logits = log_probs(probs);
    struct Case {
        float min_p;
        std::set<int32_t> kept;
    };
    for (const Case &c : {Case{0.0f, {0, 1, 2, 3}}, Case{0.2f, {1, 2, 3}}, Case{0.5f, {1, 2}},
                          Case{0.7f, {2}}, Case{1.0f, {2}}}) {
        auto p = make_params(1.0f);
        p.min_p = c.min_p;
        p.seed = 9;
        Sampler s(p);
        std::set<int32_t> seen;
        for (int i = 0; i < 2000; ++i) seen.insert(s.sample(logits.data(), 4, {}));
        INFO("min_p " << c.min_p);
        CHECK(seen == c.kept);
    }
}

TEST_CASE("sampler: repetition penalty flips a choice", "[sampler]") {
    auto p = make_params(0.0f);
    p.repeat_penalty = 1.1f;
    // Positive logits are divided: 2.0 / 1.1 = 1.82 < 1.9.
    CHECK(sample_once(p, {2.0f, 1.9f}) == 0);
    CHECK(sample_once(p, {2.0f, 1.9f}, {0}) == 1);
    // Negative logits are multiplied: -1.0 * 1.1 = -1.1 < -1.05.
    CHECK(sample_once(p, {-1.0f, -1.05f}, {0}) == 1);
    // Each distinct token is penalized once, however often it occurs: 2.0 / 1.1 > 1.7.
    CHECK(sample_once(p, {2.0f, 1.7f}, {0, 0, 0, 0}) == 0);
    // Only the last repeat_last_n tokens count.
    p.repeat_last_n = 3;
    CHECK(sample_once(p, {2.0f, 1.9f, 0.0f}, {0, 2, 2, 2}) == 0);
    CHECK(sample_once(p, {2.0f, 1.9f, 0.0f}, {2, 2, 0}) == 1);
    p.repeat_last_n = 0;
    CHECK(sample_once(p, {2.0f, 1.9f}, {0}) == 0);
    // With sampling too: top-k = 1 after the penalty.
    auto q = make_params(1.0f);
    q.repeat_penalty = 1.1f;
    q.top_k = 1;
    CHECK(sample_once(q, {2.0f, 1.9f}, {0}) == 1);
    // A history token outside the vocabulary is a caller error.
    CHECK_THROWS_AS(sample_once(q, {2.0f, 1.9f}, {7}), cab::Error);
}

TEST_CASE("sampler: the same seed gives the same tokens", "[sampler]") {
    const auto logits = random_logits(50, 11, 4.0f);
    auto draw_sequence = [&](uint64_t seed) {
        auto p = make_params(1.0f);
        p.seed = seed;
        p.top_k = 40;
        p.top_p = 0.95f;
        p.min_p = 0.01f;
        Sampler s(p);
        std::vector<int32_t> out;
        for (int i = 0; i < 200; ++i) out.push_back(s.sample(logits.data(), 50, out));
        return out;
    };
    const auto a = draw_sequence(1234);
    CHECK(a == draw_sequence(1234));
    CHECK(a != draw_sequence(1235));
    CHECK(draw_sequence(0) != draw_sequence(1));
    // Not a constant sequence: the draws really are random.
    CHECK(std::set<int32_t>(a.begin(), a.end()).size() > 5);
}

TEST_CASE("sampler: draws at temperature 1 follow the softmax", "[sampler]") {
    const auto logits = random_logits(12, 21, 6.0f);
    auto p = make_params(1.0f);
    p.seed = 77;
    Sampler s(p);
    const int draws = 20000;
    check_distribution(histogram(s, logits, draws), softmax(logits, 1.0), draws);
}

TEST_CASE("sampler: temperature and top-k reshape the distribution", "[sampler]") {
    const auto logits = random_logits(12, 22, 6.0f);
    const double t = 0.7;
    const int k = 5;
    auto probs = softmax(logits, t);
    std::vector<double> expected(logits.size(), 0.0);
    const auto order = ranking(logits);
    double mass = 0.0;
    for (int i = 0; i < k; ++i) mass += probs[static_cast<size_t>(order[i])];
    for (int i = 0; i < k; ++i) {
        const auto id = static_cast<size_t>(order[i]);
        expected[id] = probs[id] / mass;
    }
    auto p = make_params(static_cast<float>(t));
    p.top_k = k;
    p.seed = 78;
    Sampler s(p);
    const int draws = 20000;
    check_distribution(histogram(s, logits, draws), expected, draws);
}

TEST_CASE("sampler: invalid parameters name the field", "[sampler]") {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    auto p = make_params(1.0f);
    CHECK_NOTHROW(Sampler(p));

    auto bad = p;
    bad.struct_size = 8;
    require_invalid(bad, "struct_size");
    bad = p;
    bad.temperature = -0.5f;
    require_invalid(bad, "temperature");
    bad.temperature = nan;
    require_invalid(bad, "temperature");
    bad = p;
    bad.top_k = -1;
    require_invalid(bad, "top_k");
    for (float v : {0.0f, -0.1f, 1.01f, nan}) {
        bad = p;
        bad.top_p = v;
        require_invalid(bad, "top_p");
    }
    for (float v : {-0.01f, 1.5f, nan}) {
        bad = p;
        bad.min_p = v;
        require_invalid(bad, "min_p");
    }
    for (float v : {0.0f, -1.0f, nan}) {
        bad = p;
        bad.repeat_penalty = v;
        require_invalid(bad, "repeat_penalty");
    }
    bad = p;
    bad.repeat_last_n = -1;
    require_invalid(bad, "repeat_last_n");
    // Greedy and the edges of every range are valid.
    bad = p;
    bad.temperature = 0.0f;
    bad.top_p = 1.0f;
    bad.min_p = 1.0f;
    bad.repeat_last_n = 0;
    CHECK_NOTHROW(Sampler(bad));
}
