// The eviction C API's contract: cab_evict_params validation naming the field, reports, no-op
// cases, cab_kv_positions / cab_kv_scores contents and sizes, and the auto_evict fields of
// cab_ctx_params (validation, the first struct version, the policy name copied at create).
#include <cmath>
#include <cstddef>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "evict_helpers.h"

using namespace cab;

namespace {

const cab_model *tiny_llama() {
    static test::ModelPtr model = test::load_c_model(test::tiny_path("tiny_llama"));
    return model.get();
}

// Prefills n tokens into seq 0 of a fresh context.
test::CtxPtr filled_ctx(size_t n, const cab_ctx_params &p) {
    test::CtxPtr ctx = test::make_c_ctx(tiny_llama(), p);
    std::mt19937 rng(1);
    const std::vector<int32_t> tokens = test::random_tokens(rng, n, 262);
    REQUIRE(cab_prefill(ctx.get(), 0, tokens.data(), n) == CAB_OK);
    return ctx;
}

// A context of 200 prefilled tokens after one eviction with `e`.
test::CtxPtr evicted_ctx(const cab_evict_params &e) {
    test::CtxPtr ctx = filled_ctx(200, test::small_ctx_params(512));
    REQUIRE(cab_evict(ctx.get(), 0, &e, nullptr) == CAB_OK);
    return ctx;
}

struct Scores {
    std::vector<float> score, observers, window;
};

Scores kv_scores(const cab_ctx *ctx, int32_t layer, int32_t head) {
    size_t n = 0;
    const cab_status st = cab_kv_scores(ctx, 0, layer, head, nullptr, nullptr, nullptr, 0, &n);
    REQUIRE((st == CAB_OK || st == CAB_ERR_BUFFER_TOO_SMALL));
    Scores s{std::vector<float>(n), std::vector<float>(n), std::vector<float>(n)};
    REQUIRE(cab_kv_scores(ctx, 0, layer, head, s.score.data(), s.observers.data(), s.window.data(),
                          n, &n) == CAB_OK);
    return s;
}

double sum(const std::vector<float> &v) {
    return std::accumulate(v.begin(), v.end(), 0.0);
}

}  // namespace

TEST_CASE("cab_evict: every bad field is INVALID_ARGUMENT naming it, and changes nothing",
          "[evict][api]") {
    test::CtxPtr ctx = filled_ctx(40, test::small_ctx_params(128));
    const cab_kv_stats before = test::kv_stats(ctx.get(), 0);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    struct Bad {
        const char *field;
        std::function<void(cab_evict_params &)> mutate;
    };
    const std::vector<Bad> cases = {
        {"params->policy", [](cab_evict_params &p) { p.policy = "lru"; }},
        {"params->policy", [](cab_evict_params &p) { p.policy = nullptr; }},
        {"params->struct_size", [](cab_evict_params &p) { p.struct_size = 7; }},
        {"params->budget_unit", [](cab_evict_params &p) { test::set_raw(p.budget_unit, 5); }},
        {"params->budget_tokens", [](cab_evict_params &p) { p.budget_tokens = -1; }},
        {"params->budget_ratio",
         [](cab_evict_params &p) {
             p.budget_unit = CAB_BUDGET_RATIO;
             p.budget_ratio = 1.5;
         }},
        {"params->budget_ratio",
         [nan](cab_evict_params &p) {
             p.budget_unit = CAB_BUDGET_RATIO;
             p.budget_ratio = nan;
         }},
        {"params->n_sinks", [](cab_evict_params &p) { p.n_sinks = -1; }},
        {"params->n_recent", [](cab_evict_params &p) { p.n_recent = -2; }},
        {"params->selection", [](cab_evict_params &p) { test::set_raw(p.selection, 9); }},
        {"params->allocation", [](cab_evict_params &p) { test::set_raw(p.allocation, -1); }},
        {"params->min_budget", [](cab_evict_params &p) { p.min_budget = -1; }},
        {"params->pyramid_beta", [](cab_evict_params &p) { p.pyramid_beta = 0.5f; }},
        {"params->h2o_recent_ratio", [](cab_evict_params &p) { p.h2o_recent_ratio = 2.0f; }},
        {"params->h2o_recent_ratio", [nan](cab_evict_params &p) { p.h2o_recent_ratio = nan; }},
        {"params->snapkv_window", [](cab_evict_params &p) { p.snapkv_window = 0; }},
        {"params->snapkv_kernel", [](cab_evict_params &p) { p.snapkv_kernel = 4; }},
        {"params->snapkv_shift", [](cab_evict_params &p) { p.snapkv_shift = 4; }},  // kernel 7
        {"params->snapkv_shift", [](cab_evict_params &p) { p.snapkv_shift = -1; }},
        {"params->snapkv_inherit", [](cab_evict_params &p) { p.snapkv_inherit = 1.0f; }},
        {"params->snapkv_inherit", [](cab_evict_params &p) { p.snapkv_inherit = -0.1f; }},
        {"params->snapkv_inherit", [nan](cab_evict_params &p) { p.snapkv_inherit = nan; }},
        {"params->struct_size",
         [](cab_evict_params &p) {
             p.struct_size = static_cast<uint32_t>(offsetof(cab_evict_params, snapkv_shift)) - 4;
         }},
        {"params->cab_r_local", [](cab_evict_params &p) { p.cab_r_local = -0.1f; }},
        {"params->cab_r_bridge",
         [](cab_evict_params &p) {
             p.cab_r_local = 0.8f;
             p.cab_r_bridge = 0.3f;
         }},
        {"params->score_source", [](cab_evict_params &p) { test::set_raw(p.score_source, 2); }},
        {"params->h2o_normalize",
         [](cab_evict_params &p) {
             p.policy = "h2o";
             p.h2o_normalize = 1;
             p.score_source = CAB_SCORE_WINDOW;
         }},
        {"params->frc_block", [](cab_evict_params &p) { p.frc_block = 0; }},
        {"params->frc_max_blocks", [](cab_evict_params &p) { p.frc_max_blocks = 0; }},
    };
    for (const Bad &b : cases) {
        cab_evict_params p = test::evict_params("cab", 8);
        b.mutate(p);
        cab_evict_report r{};
        r.struct_size = sizeof r;
        INFO("expecting an error naming " << b.field);
        CHECK(cab_evict(ctx.get(), 0, &p, &r) == CAB_ERR_INVALID_ARGUMENT);
        CHECK(test::error_mentions(b.field));
    }
    cab_evict_params ok = test::evict_params("cab", 8);
    CHECK(cab_evict(nullptr, 0, &ok, nullptr) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(cab_evict(ctx.get(), 3, &ok, nullptr) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("seq"));
    cab_evict_report bad_report{};
    bad_report.struct_size = sizeof bad_report + 8;
    CHECK(cab_evict(ctx.get(), 0, &ok, &bad_report) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("report->struct_size"));
    CHECK(cab_evict_default_params(nullptr) == CAB_ERR_INVALID_ARGUMENT);

    const cab_kv_stats after = test::kv_stats(ctx.get(), 0);
    CHECK(after.tokens_cached == before.tokens_cached);
    CHECK(after.blocks_used == before.blocks_used);
}

TEST_CASE("cab_evict: a struct from before snapkv_shift (104 bytes) reads the shift as 0",
          "[evict][api]") {
    const size_t old_size = offsetof(cab_evict_params, snapkv_shift);
    REQUIRE(old_size == 104);
    cab_evict_params d;
    REQUIRE(cab_evict_default_params(&d) == CAB_OK);
    CHECK(d.snapkv_shift == 0);

    // What the old caller does not have is not read: an invalid shift past its struct is ignored.
    cab_evict_params old = test::evict_params("snapkv", 40);
    old.snapkv_window = 4;  // 32 slots ranked by the pooled window score
    old.snapkv_kernel = 9;
    old.snapkv_shift = 99;
    old.struct_size = static_cast<uint32_t>(old_size);
    cab_evict_params zero = old;
    zero.struct_size = sizeof zero;
    zero.snapkv_shift = 0;
    cab_evict_params shifted = zero;
    shifted.snapkv_shift = 4;

    auto kept = [](const cab_evict_params &e) {
        return test::all_positions(evicted_ctx(e).get(), 0);
    };
    CHECK(kept(old) == kept(zero));
    // And a full struct's shift is read: with 4 of kernel 9 the kept slots move.
    CHECK(kept(shifted) != kept(zero));
    old.struct_size = sizeof old;
    test::CtxPtr ctx = filled_ctx(40, test::small_ctx_params(128));
    CHECK(cab_evict(ctx.get(), 0, &old, nullptr) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("params->snapkv_shift"));
}

TEST_CASE("cab_evict: snapkv_inherit ranks the first layers by the deeper layers' window score",
          "[evict][api]") {
    cab_evict_params own = test::evict_params("snapkv", 40);
    own.snapkv_window = 4;
    cab_evict_params inherit = own;
    inherit.snapkv_inherit = 0.5f;
    const test::CtxPtr ctx = evicted_ctx(own);
    const auto a = test::all_positions(ctx.get(), 0);
    const auto b = test::all_positions(evicted_ctx(inherit).get(), 0);
    const cab_kv_stats stats = test::kv_stats(ctx.get(), 0);
    const int32_t n_layer = stats.n_layer, n_head = stats.n_head_kv;
    REQUIRE(n_layer >= 2);
    const int32_t n_inherit = (n_layer + 1) / 2;  // ceil(0.5 * n_layer)
    bool differs = false;
    for (int32_t l = 0; l < n_layer; ++l)
        for (int32_t h = 0; h < n_head; ++h) {
            const size_t i = static_cast<size_t>(l * n_head + h);
            INFO("layer " << l << " head " << h);
            CHECK(b[i].size() == a[i].size());  // the budget is the same
            if (l >= n_inherit) {
                CHECK(b[i] == a[i]);  // the deeper layers rank as before
            } else {
                // One score for the whole layer (by position): its heads keep the same slots.
                CHECK(b[i] == b[static_cast<size_t>(l * n_head)]);
                differs = differs || b[i] != a[i];
            }
        }
    CHECK(differs);
}

TEST_CASE("cab_evict: defaults, NULL params and report, empty sequence, STATE for shared",
          "[evict][api]") {
    cab_evict_params d;
    REQUIRE(cab_evict_default_params(&d) == CAB_OK);
    CHECK(d.struct_size == sizeof d);
    CHECK(std::string(d.policy) == "cab");
    CHECK((d.budget_unit == CAB_BUDGET_TOKENS && d.budget_tokens == 256 && d.n_sinks == 4));

    cab_ctx_params p = test::small_ctx_params(1024);
    p.n_seq_max = 2;
    test::CtxPtr ctx = filled_ctx(300, p);
    cab_evict_report r{};
    r.struct_size = sizeof r;
    REQUIRE(cab_evict(ctx.get(), 1, nullptr, &r) == CAB_OK);  // empty sequence: a no-op
    CHECK((r.tokens_before == 0 && r.tokens_kept == 0 && r.blocks_freed == 0));

    // A report from an older, shorter struct gets only its prefix.
    struct OldReport {
        uint32_t struct_size;
        int64_t tokens_before;
    } old{};
    old.struct_size = sizeof old;
    REQUIRE(cab_evict(ctx.get(), 0, nullptr, reinterpret_cast<cab_evict_report *>(&old)) ==
            CAB_OK);  // defaults: cab, 256 per stream
    CHECK(old.tokens_before == 300 * 4);
    CHECK(test::kv_stats(ctx.get(), 0).stream_max == 256);
    REQUIRE(cab_evict(ctx.get(), 0, nullptr, nullptr) == CAB_OK);  // nothing left to evict

    cab_evict_params shared = test::evict_params("h2o", 100);
    shared.selection = CAB_SELECTION_SHARED_PER_LAYER;
    CHECK(cab_evict(ctx.get(), 0, &shared, nullptr) == CAB_ERR_STATE);
    CHECK(test::error_mentions("same tokens"));
}

TEST_CASE("cab_kv_positions / cab_kv_scores: contents, sizes and bad arguments", "[evict][api]") {
    test::CtxPtr ctx = filled_ctx(20, test::small_ctx_params(128));
    const cab_ctx *c = ctx.get();
    const int32_t group = 2;  // tiny_llama: 4 query heads over 2 kv heads
    std::vector<int32_t> expected(20);
    std::iota(expected.begin(), expected.end(), 0);
    for (int32_t l = 0; l < 2; ++l)
        for (int32_t h = 0; h < 2; ++h) {
            INFO("layer " << l << " head " << h);
            CHECK(test::kv_positions(c, 0, l, h) == expected);
            const Scores s = kv_scores(c, l, h);
            // Every query's probabilities sum to 1 per query head: 20 queries, 2 heads each.
            CHECK(sum(s.score) == Approx(20.0 * group).epsilon(1e-5));
            // The last prefill chunk is the 6-token score window (chunks 8, 6, 6).
            CHECK(sum(s.window) == Approx(6.0 * group).epsilon(1e-5));
            for (int32_t j = 0; j < 20; ++j) CHECK(s.observers[j] == static_cast<float>(20 - j));
        }

    // A decode step adds one observer to every slot and leaves the window as it was.
    const Scores before = kv_scores(c, 1, 0);
    const int32_t tok = 9;
    const cab_seq seq = 0;
    REQUIRE(cab_decode(ctx.get(), &seq, &tok, 1) == CAB_OK);
    const Scores after = kv_scores(c, 1, 0);
    REQUIRE(after.score.size() == 21);
    CHECK(sum(after.score) == Approx(21.0 * group).epsilon(1e-5));
    for (size_t j = 0; j < 20; ++j) {
        CHECK(after.observers[j] == before.observers[j] + 1.0f);
        CHECK(after.window[j] == before.window[j]);
    }

    // `window` keeps the sinks and the most recent: scores move with their tokens.
    cab_evict_params w = test::evict_params("window", 7);
    REQUIRE(cab_evict(ctx.get(), 0, &w, nullptr) == CAB_OK);
    CHECK(test::kv_positions(c, 0, 1, 0) == std::vector<int32_t>{0, 1, 2, 3, 18, 19, 20});
    const Scores kept = kv_scores(c, 1, 0);
    const std::vector<size_t> from = {0, 1, 2, 3, 18, 19, 20};
    for (size_t i = 0; i < from.size(); ++i) {
        CHECK(kept.score[i] == after.score[from[i]]);
        CHECK(kept.observers[i] == after.observers[from[i]]);
        CHECK(kept.window[i] == after.window[from[i]]);
    }

    // Sizes, NULL arrays and bad arguments.
    size_t n = 0;
    int32_t small[3];
    CHECK(cab_kv_positions(c, 0, 0, 0, small, 3, &n) == CAB_ERR_BUFFER_TOO_SMALL);
    CHECK(n == 7);
    std::vector<float> only(7);
    CHECK(cab_kv_scores(c, 0, 0, 0, nullptr, only.data(), nullptr, 7, &n) == CAB_OK);
    CHECK(only[0] == 21.0f);
    CHECK(cab_kv_positions(c, 0, 2, 0, small, 3, &n) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("layer 2"));
    CHECK(cab_kv_scores(c, 0, 0, -1, nullptr, nullptr, nullptr, 0, &n) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("head -1"));
    CHECK(cab_kv_positions(c, 0, 0, 0, nullptr, 5, &n) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(cab_kv_positions(c, 0, 0, 0, small, 3, nullptr) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(cab_kv_positions(nullptr, 0, 0, 0, small, 3, &n) == CAB_ERR_INVALID_ARGUMENT);
}

TEST_CASE("cab_ctx_params: auto_evict is validated, copied at create; v1 structs still work",
          "[evict][api]") {
    cab_ctx *ctx = nullptr;
    cab_evict_params e = test::evict_params("snap", 16);
    cab_ctx_params p = test::small_ctx_params(64);
    p.auto_evict = &e;
    CHECK(cab_ctx_create(tiny_llama(), &p, &ctx) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("params->auto_evict->policy"));
    e.policy = "window";
    e.n_sinks = -3;
    CHECK(cab_ctx_create(tiny_llama(), &p, &ctx) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("params->auto_evict->n_sinks"));
    e.n_sinks = 4;
    p.auto_evict_slack = 0;
    CHECK(cab_ctx_create(tiny_llama(), &p, &ctx) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("auto_evict_slack"));
    p.auto_evict_slack = 60;  // 16 + 60 > 64: the pool would fill before eviction
    CHECK(cab_ctx_create(tiny_llama(), &p, &ctx) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("kv_capacity_tokens"));
    p.auto_evict_slack = 8;
    p.score_window = 0;
    CHECK(cab_ctx_create(tiny_llama(), &p, &ctx) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("score_window"));
    CHECK(ctx == nullptr);

    // The policy name is copied: the caller's buffer may change or die after create.
    char name[16];
    std::strcpy(name, "window");
    e.policy = name;
    p.score_window = 6;
    test::CtxPtr owned = test::make_c_ctx(tiny_llama(), p);
    std::strcpy(name, "bogus");
    e.budget_tokens = 1000;
    std::mt19937 rng(2);
    const std::vector<int32_t> prompt = test::random_tokens(rng, 20, 262);
    REQUIRE(cab_prefill(owned.get(), 0, prompt.data(), prompt.size()) == CAB_OK);
    const cab_seq seq = 0;
    for (int32_t t = 0; t < 5; ++t) REQUIRE(cab_decode(owned.get(), &seq, &t, 1) == CAB_OK);
    // 25 tokens: evicted to 16 (sinks 0-3, then the most recent) before the 25th was decoded.
    std::vector<int32_t> want = {0, 1, 2, 3};
    for (int32_t pos = 12; pos < 25; ++pos) want.push_back(pos);
    CHECK(test::kv_positions(owned.get(), 0, 0, 0) == want);

    // A program built against the first cab_ctx_params (ending at prefill_chunk).
    cab_ctx_params v1 = test::small_ctx_params(64);
    v1.struct_size = static_cast<uint32_t>(offsetof(cab_ctx_params, auto_evict));
    test::CtxPtr old = test::make_c_ctx(tiny_llama(), v1);
    const std::vector<int32_t> many = test::random_tokens(rng, 60, 262);
    REQUIRE(cab_prefill(old.get(), 0, many.data(), many.size()) == CAB_OK);
    CHECK(test::kv_stats(old.get(), 0).tokens_evicted == 0);  // no automatic eviction
    v1.struct_size = static_cast<uint32_t>(offsetof(cab_ctx_params, auto_evict)) - 4;
    CHECK(cab_ctx_create(tiny_llama(), &v1, &ctx) == CAB_ERR_INVALID_ARGUMENT);
}
