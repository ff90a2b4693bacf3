// When automatic eviction fires and how prompts are chunked: the arithmetic of
// runtime/auto_evict.h, and the context following it exactly (an automatic context equals a
// plain one driven by hand with cab_evict at the documented points).
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "evict_helpers.h"
#include "policy/policy.h"
#include "runtime/auto_evict.h"

using namespace cab;

namespace {

const cab_model *tiny_llama() {
    static test::ModelPtr model = test::load_c_model(test::tiny_path("tiny_llama"));
    return model.get();
}

EvictOptions token_budget(const char *policy, int32_t tokens) {
    EvictOptions o;
    o.policy = find_policy(policy);
    o.budget.tokens = tokens;
    return o;
}

int32_t stream_length(const cab_ctx *ctx) {
    return test::kv_stats(ctx, 0).stream_max;
}

void check_same_logits(cab_ctx *a, cab_ctx *b) {
    const float *la = nullptr, *lb = nullptr;
    REQUIRE(cab_logits(a, 0, &la) == CAB_OK);
    REQUIRE(cab_logits(b, 0, &lb) == CAB_OK);
    for (int32_t i = 0; i < 262; ++i) REQUIRE(la[i] == lb[i]);
}

}  // namespace

TEST_CASE("auto evict: the trigger is budget + slack per stream, on average", "[auto]") {
    const AutoEvict a(token_budget("h2o", 100), 10, 4);  // 4 streams
    CHECK(a.enabled());
    CHECK_FALSE(a.question_aware());
    CHECK(a.budget(5000) == 100);
    CHECK(a.room(0, 0, 1000) == 110);
    CHECK(a.room(4 * 100, 100, 1000) == 10);
    CHECK(a.room(4 * 110, 110, 1000) == 0);
    CHECK(a.room(4 * 105, 900, 3) == 3);  // capped at the limit
    CHECK(a.room(4 * 111, 111, 5) == 0);
    CHECK(a.over_budget(4 * 101, 101));
    CHECK_FALSE(a.over_budget(4 * 100, 5000));
    CHECK(a.to_budget(5000).budget.tokens == 100);

    // A ratio budget is a share of the sequence's length: 25% of the tokens taken.
    EvictOptions ratio = token_budget("snapkv", 0);
    ratio.budget.is_ratio = true;
    ratio.budget.ratio_num = 1;
    ratio.budget.ratio_den = 4;
    const AutoEvict r(ratio, 8, 2);
    CHECK(r.question_aware());
    CHECK(r.budget(1000) == 250);
    CHECK(r.to_budget(1001).budget.tokens == 250);
    // 2 streams of 250 tokens at length 1000: each new token adds 1 slot and 0.25 budget, so
    // 8 slack tokens last 10 more tokens (258 <= 252 + 8 at 1010; 259 > 252 + 8 at 1011).
    CHECK(r.room(2 * 250, 1000, 100) == 10);

    CHECK_FALSE(AutoEvict(token_budget("full", 10), 5, 4).enabled());
    CHECK_FALSE(AutoEvict(EvictOptions{}, 5, 4).enabled());
    EvictOptions cab_window = token_budget("cab", 10);
    cab_window.params.cab_score_source = ScoreSource::Window;
    CHECK(AutoEvict(cab_window, 5, 4).question_aware());
}

TEST_CASE("auto evict: plain quantize fires on full-precision tokens past quantize_recent + slack",
          "[auto]") {
    EvictOptions quantize;
    quantize.quantize = true;
    quantize.quantize_recent = 24;
    quantize.budget.tokens = 5;  // bounds nothing
    const AutoEvict q(quantize, 16, 4);
    CHECK(q.enabled());
    CHECK(q.quantizes_only());
    CHECK_FALSE(q.question_aware());
    CHECK(q.quantize_room(0, 1000) == 40);
    CHECK(q.quantize_room(30, 1000) == 10);
    CHECK(q.quantize_room(40, 1000) == 0);
    CHECK(q.quantize_room(45, 1000) == 0);
    CHECK(q.quantize_room(10, 7) == 7);  // capped at the limit
    const EvictOptions fired = q.to_budget(5000);
    CHECK(fired.quantize);
    CHECK(fired.policy == nullptr);
    CHECK(fired.quantize_recent == 24);

    // quantize+full evicts nothing either; quantize+<policy> fires as the policy does.
    EvictOptions full = token_budget("full", 5);
    full.quantize = true;
    CHECK(AutoEvict(full, 16, 4).quantizes_only());
    CHECK(AutoEvict(full, 16, 4).to_budget(100).policy == nullptr);
    EvictOptions snapkv = token_budget("snapkv", 32);
    snapkv.quantize = true;
    const AutoEvict s(snapkv, 16, 4);
    CHECK(s.enabled());
    CHECK_FALSE(s.quantizes_only());
    CHECK(s.question_aware());
    CHECK(s.room(4 * 40, 500, 1000) == 8);
    CHECK(s.to_budget(500).quantize);
    CHECK(s.to_budget(500).policy == find_policy("snapkv"));
}

TEST_CASE("auto evict: plan_chunk keeps the prompt's last window in one chunk", "[auto]") {
    CHECK(plan_chunk(100, 512, 1000, 32) == 100);  // all of it
    CHECK(plan_chunk(1030, 512, 1 << 30, 32) == 512);
    CHECK(plan_chunk(518, 512, 1 << 30, 32) == 486);  // leaves 32 for the last chunk
    CHECK(plan_chunk(40, 512, 20, 32) == 8);          // room-limited, then the last 32
    CHECK(plan_chunk(40, 512, 30, 32) == 8);
    CHECK(plan_chunk(30, 512, 20, 32) <= 0);  // the last 30 do not fit in 20
    CHECK(plan_chunk(50, 16, 1000, 32) == 16);
    CHECK(plan_chunk(40, 16, 1000, 32) == 8);
    CHECK(plan_chunk(20, 16, 1000, 32) <= 0);  // a chunk of 16 cannot hold a window of 32
    CHECK(plan_chunk(10, 16, 0, 4) <= 0);
}

TEST_CASE(
    "auto evict: a context evicting by itself equals a plain one evicted by hand at the "
    "documented points",
    "[auto]") {
    const int32_t budget = 16, slack = 8;
    for (const char *policy : {"h2o", "snapkv"}) {
        SECTION(policy) {
            const bool question_aware = std::string(policy) == "snapkv";
            cab_evict_params e = test::evict_params(policy, budget);
            e.snapkv_window = 4;
            cab_ctx_params p = test::small_ctx_params(64);  // prefill_chunk 8
            p.score_window = 4;
            test::CtxPtr manual = test::make_c_ctx(tiny_llama(), p);
            p.auto_evict = &e;
            p.auto_evict_slack = slack;
            test::CtxPtr automatic = test::make_c_ctx(tiny_llama(), p);

            std::mt19937 rng(8);
            const std::vector<int32_t> prompt = test::random_tokens(rng, 64, 262);
            REQUIRE(cab_prefill(automatic.get(), 0, prompt.data(), prompt.size()) == CAB_OK);
            // By hand: chunks of 8; before a chunk that would pass budget + slack, evict to
            // budget; a question-aware policy evicts once more after the last chunk.
            for (size_t done = 0; done < prompt.size(); done += 8) {
                if (stream_length(manual.get()) + 8 > budget + slack)
                    REQUIRE(cab_evict(manual.get(), 0, &e, nullptr) == CAB_OK);
                REQUIRE(cab_prefill(manual.get(), 0, prompt.data() + done, 8) == CAB_OK);
            }
            if (question_aware) REQUIRE(cab_evict(manual.get(), 0, &e, nullptr) == CAB_OK);
            CHECK(test::all_positions(automatic.get(), 0) == test::all_positions(manual.get(), 0));
            check_same_logits(automatic.get(), manual.get());

            // Decode: evict to budget before a step that would pass budget + slack.
            const cab_seq seq = 0;
            for (int32_t t = 0; t < 20; ++t) {
                if (stream_length(manual.get()) + 1 > budget + slack)
                    REQUIRE(cab_evict(manual.get(), 0, &e, nullptr) == CAB_OK);
                REQUIRE(cab_decode(manual.get(), &seq, &t, 1) == CAB_OK);
                REQUIRE(cab_decode(automatic.get(), &seq, &t, 1) == CAB_OK);
                INFO("decode step " << t);
                CHECK(test::all_positions(automatic.get(), 0) ==
                      test::all_positions(manual.get(), 0));
                check_same_logits(automatic.get(), manual.get());
            }
        }
    }
}

TEST_CASE("auto evict: a ratio budget keeps a share of the sequence, plus at most the slack",
          "[auto]") {
    cab_evict_params e = test::evict_params("cab", 0);
    e.budget_unit = CAB_BUDGET_RATIO;
    e.budget_ratio = 0.25;
    cab_ctx_params p = test::small_ctx_params(512);
    p.auto_evict = &e;
    p.auto_evict_slack = 8;
    test::CtxPtr ctx = test::make_c_ctx(tiny_llama(), p);
    std::mt19937 rng(6);
    const std::vector<int32_t> prompt = test::random_tokens(rng, 300, 262);
    REQUIRE(cab_prefill(ctx.get(), 0, prompt.data(), prompt.size()) == CAB_OK);
    const cab_seq seq = 0;
    for (int32_t t = 0; t < 200; ++t) {
        REQUIRE(cab_decode(ctx.get(), &seq, &t, 1) == CAB_OK);
        const cab_kv_stats s = test::kv_stats(ctx.get(), 0);
        REQUIRE(s.stream_max <= s.seq_length / 4 + 8);
        REQUIRE(s.stream_min >= (s.seq_length - 1) / 4);
    }
}

TEST_CASE("auto evict: KV_FULL part-way through a prompt keeps the chunks done and says so",
          "[auto]") {
    cab_evict_params e = test::evict_params("window", 16);
    cab_ctx_params p = test::small_ctx_params(32);
    p.n_seq_max = 2;
    p.auto_evict = &e;
    p.auto_evict_slack = 8;
    test::CtxPtr ctx = test::make_c_ctx(tiny_llama(), p);
    std::mt19937 rng(7);
    const std::vector<int32_t> other = test::random_tokens(rng, 24, 262);
    REQUIRE(cab_prefill(ctx.get(), 1, other.data(), other.size()) == CAB_OK);  // 24 of 32 taken
    const std::vector<int32_t> prompt = test::random_tokens(rng, 100, 262);
    CHECK(cab_prefill(ctx.get(), 0, prompt.data(), prompt.size()) == CAB_ERR_KV_FULL);
    CHECK(test::error_mentions("8 of the 100 prompt tokens were prefilled"));
    int64_t length = 0;
    REQUIRE(cab_seq_length(ctx.get(), 0, &length) == CAB_OK);
    CHECK(length == 8);
    CHECK(test::kv_positions(ctx.get(), 0, 0, 0).size() == 8);
    const float *logits = nullptr;
    CHECK(cab_logits(ctx.get(), 0, &logits) == CAB_OK);

    // The first chunk failing changes nothing, as without automatic eviction.
    p.kv_capacity_tokens = 28;  // seq 1 leaves one block per stream: less than a chunk
    test::CtxPtr tight = test::make_c_ctx(tiny_llama(), p);
    REQUIRE(cab_prefill(tight.get(), 1, other.data(), other.size()) == CAB_OK);
    CHECK(cab_prefill(tight.get(), 0, prompt.data(), prompt.size()) == CAB_ERR_KV_FULL);
    REQUIRE(cab_seq_length(tight.get(), 0, &length) == CAB_OK);
    CHECK(length == 0);
    CHECK(test::kv_stats(tight.get(), 0).blocks_used == 0);
}

TEST_CASE("auto evict: a batched decode evicts each sequence on its own", "[auto]") {
    cab_evict_params e = test::evict_params("window", 12);
    cab_ctx_params p = test::small_ctx_params(64);
    p.auto_evict = &e;
    p.auto_evict_slack = 4;
    p.n_seq_max = 2;
    test::CtxPtr batched = test::make_c_ctx(tiny_llama(), p);
    p.n_seq_max = 1;
    test::CtxPtr alone[2] = {test::make_c_ctx(tiny_llama(), p), test::make_c_ctx(tiny_llama(), p)};
    std::mt19937 rng(12);
    for (cab_seq s = 0; s < 2; ++s) {
        const std::vector<int32_t> prompt = test::random_tokens(rng, 6 + 9 * s, 262);
        REQUIRE(cab_prefill(batched.get(), s, prompt.data(), prompt.size()) == CAB_OK);
        REQUIRE(cab_prefill(alone[s].get(), 0, prompt.data(), prompt.size()) == CAB_OK);
    }
    const cab_seq seqs[2] = {1, 0}, zero = 0;
    for (int step = 0; step < 25; ++step) {
        const std::vector<int32_t> toks = test::random_tokens(rng, 2, 262);
        REQUIRE(cab_decode(batched.get(), seqs, toks.data(), 2) == CAB_OK);
        for (int i = 0; i < 2; ++i) {
            const cab_seq s = seqs[i];
            REQUIRE(cab_decode(alone[s].get(), &zero, &toks[static_cast<size_t>(i)], 1) == CAB_OK);
            INFO("step " << step << ", sequence " << s);
            CHECK(test::kv_stats(batched.get(), s).stream_max <= 12 + 4);
            CHECK(test::kv_positions(batched.get(), s, 1, 0) ==
                  test::kv_positions(alone[s].get(), 0, 1, 0));
            const float *a = nullptr, *b = nullptr;
            REQUIRE(cab_logits(batched.get(), s, &a) == CAB_OK);
            REQUIRE(cab_logits(alone[s].get(), 0, &b) == CAB_OK);
            double diff = 0.0, scale = 0.0;
            for (int32_t t = 0; t < 262; ++t) {
                diff = std::max(diff, std::fabs(static_cast<double>(a[t]) - b[t]));
                scale = std::max(scale, std::fabs(static_cast<double>(b[t])));
            }
            CHECK(diff / scale < 1e-5);
        }
    }
}
