// Eviction frees memory for real: a long generation under automatic eviction keeps the KV
// blocks it holds flat, and a prompt far longer than the budget is prefilled inside a pool that
// holds only budget + slack tokens (any step past that bound would fail with KV_FULL).
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

int64_t blocks_for(int64_t tokens, int64_t block_size) {
    return (tokens + block_size - 1) / block_size;
}

}  // namespace

TEST_CASE("auto eviction: a 10,000-token generation under a 256-token budget keeps KV memory flat",
          "[evict][memory]") {
    const int32_t budget = 256, slack = 64, n_generate = 10000;
    cab_evict_params e = test::evict_params("cab", budget);
    cab_ctx_params p = test::small_ctx_params(budget + slack);  // the pool holds only this
    p.kv_block_size = 16;
    p.prefill_chunk = 64;
    p.score_window = 32;
    p.auto_evict = &e;
    p.auto_evict_slack = slack;
    test::CtxPtr ctx = test::make_c_ctx(tiny_llama(), p);
    std::mt19937 rng(9);
    const std::vector<int32_t> prompt = test::random_tokens(rng, 100, 262);
    REQUIRE(cab_prefill(ctx.get(), 0, prompt.data(), prompt.size()) == CAB_OK);

    const cab_kv_stats first = test::kv_stats(ctx.get(), 0);
    const int64_t n_streams = int64_t{first.n_layer} * first.n_head_kv;
    const uint64_t bytes_per_block = first.bytes_total / static_cast<uint64_t>(first.blocks_total);
    const uint64_t bound =
        static_cast<uint64_t>(n_streams * blocks_for(budget + slack, 16)) * bytes_per_block;
    const uint64_t floor =
        static_cast<uint64_t>(n_streams * blocks_for(budget, 16)) * bytes_per_block;
    const cab_seq seq = 0;
    std::vector<uint64_t> measured;
    for (int32_t i = 1; i <= n_generate; ++i) {
        cab_token tok = 0;
        REQUIRE(cab_sample(ctx.get(), 0, nullptr, &tok) == CAB_OK);
        const cab_status st = cab_decode(ctx.get(), &seq, &tok, 1);
        if (st != CAB_OK) FAIL("decode step " << i << ": " << cab_last_error());
        if (i % 500 == 0) {
            const cab_kv_stats s = test::kv_stats(ctx.get(), 0);
            INFO("after " << i << " generated tokens: " << s.bytes_used << " bytes in "
                          << s.blocks_used << " blocks, " << s.tokens_cached << " tokens cached");
            CHECK(s.seq_length == 100 + i);
            CHECK(s.bytes_used <= bound);
            CHECK(s.bytes_used >= floor);  // flat, not draining: the budget stays in use
            CHECK(s.stream_max <= budget + slack);
            measured.push_back(s.bytes_used);
        }
    }
    REQUIRE(measured.size() == 20);
    const cab_kv_stats end = test::kv_stats(ctx.get(), 0);
    CHECK(end.tokens_evicted == n_streams * (100 + n_generate) - end.tokens_cached);
    CHECK(end.blocks_used + end.blocks_free == end.blocks_total);
}

TEST_CASE(
    "auto eviction: a prompt far longer than the budget is prefilled within budget + slack, for "
    "every policy",
    "[evict][memory]") {
    const int32_t budget = 24, slack = 8, n_prompt = 400;
    for (const char *policy : {"random", "window", "h2o", "tova", "snapkv", "cab", "cab-frc"}) {
        SECTION(policy) {
            cab_evict_params e = test::evict_params(policy, budget);
            e.snapkv_window = 6;
            cab_ctx_params p = test::small_ctx_params(budget + slack);
            p.auto_evict = &e;
            p.auto_evict_slack = slack;
            test::CtxPtr ctx = test::make_c_ctx(tiny_llama(), p);
            std::mt19937 rng(4);
            const std::vector<int32_t> prompt = test::random_tokens(rng, n_prompt, 262);
            const cab_status st = cab_prefill(ctx.get(), 0, prompt.data(), prompt.size());
            INFO(cab_last_error());
            REQUIRE(st == CAB_OK);
            const cab_kv_stats s = test::kv_stats(ctx.get(), 0);
            CHECK(s.seq_length == n_prompt);
            CHECK(s.stream_max <= budget + slack);
            // Question-aware policies end the prompt with an eviction to the budget.
            if (std::string(policy) == "snapkv") CHECK(s.stream_max == budget);
            CHECK(s.tokens_evicted == int64_t{n_prompt} * 4 - s.tokens_cached);
            const std::vector<int32_t> pos = test::kv_positions(ctx.get(), 0, 1, 1);
            CHECK(pos.back() == n_prompt - 1);  // the prompt's last token is always kept
            const cab_seq seq = 0;
            const int32_t tok = 3;
            REQUIRE(cab_decode(ctx.get(), &seq, &tok, 1) == CAB_OK);
            CHECK(test::kv_positions(ctx.get(), 0, 1, 1).back() == n_prompt);
        }
    }
}
