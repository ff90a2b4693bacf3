// The harness's quantize rows (eval/kv_memory.h, docs/QUALITY.md "Int8 rows: budgets of
// memory"): the token budget that puts quantize+<policy> at the memory of pure eviction, the
// policy names, and the memory a sample's cells hold on stories260K.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "eval_models.h"
#include "kv_memory.h"
#include "model_text.h"
#include "runner.h"
#include "sample_run.h"

namespace {

// SmolLM2-135M's streams: head_dim 64, blocks of 16: a BF16 block 4096 bytes, an int8 one 2176.
const cab_eval::KvGeometry kSmol{64, 16};

int64_t ceil_div(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}

}  // namespace

TEST_CASE("eval memory: block sizes and the full-precision tail", "[eval]") {
    CHECK(kSmol.full_block_bytes() == 4096);
    CHECK(kSmol.q8_block_bytes() == 2176);
    CHECK(cab_eval::full_precision_tail(1024, 64, 16) == 64);
    CHECK(cab_eval::full_precision_tail(1000, 64, 16) == 72);  // 936 -> 58 whole blocks
    CHECK(cab_eval::full_precision_tail(50, 64, 16) == 50);    // shorter than the tail
    CHECK(cab_eval::full_precision_tail(1024, 0, 16) == 0);
    CHECK(cab_eval::full_precision_tail(1001, 0, 16) == 9);
}

TEST_CASE("eval memory: quantize+<policy> budgets hold the memory of eviction", "[eval]") {
    const auto half = cab_eval::parse_budget("50%");
    const auto quarter = cab_eval::parse_budget("25%");
    // 1024 tokens at 50%: eviction holds 32 BF16 blocks (131072 bytes); the 64-token tail
    // takes 4 (16384), and 114688 / 2176 = 52.7 int8 blocks fit: 64 + 52 * 16 = 896 tokens.
    auto b = cab_eval::quantized_budget(half, 1024, 64, kSmol);
    CHECK(b.tokens == 896);
    CHECK(b.recent == 64);
    // At 25%: (65536 - 16384) / 2176 = 22.6 -> 64 + 352.
    b = cab_eval::quantized_budget(quarter, 1024, 64, kSmol);
    CHECK(b.tokens == 416);
    CHECK(b.recent == 64);
    // 1000 tokens at 50%: 500 -> 32 blocks; tail 72 -> 5 blocks; 110592 / 2176 = 50.8.
    b = cab_eval::quantized_budget(half, 1000, 64, kSmol);
    CHECK(b.tokens == 72 + 50 * 16);
    CHECK(b.recent == 72);
    // A token budget is the memory of that many tokens: 128 -> 8 blocks, 16384 / 2176 = 7.5.
    b = cab_eval::quantized_budget(cab_eval::parse_budget("128"), 1024, 64, kSmol);
    CHECK(b.tokens == 64 + 7 * 16);
    // All of it in int8 fits in 100%: every token is kept.
    b = cab_eval::quantized_budget(cab_eval::parse_budget("100%"), 1000, 64, kSmol);
    CHECK(b.tokens == 1000);
    // No recent tokens: 131072 / 2176 = 60.2 int8 blocks.
    b = cab_eval::quantized_budget(half, 1024, 0, kSmol);
    CHECK(b.tokens == 960);
    CHECK(b.recent == 0);
    // The tail alone is more than the memory (72 tokens in 5 blocks against 20 in 2): evict to
    // the 20 tokens eviction keeps, nothing protected.
    b = cab_eval::quantized_budget(cab_eval::parse_budget("10%"), 200, 64, kSmol);
    CHECK(b.tokens == 20);
    CHECK(b.recent == 0);
}

TEST_CASE("eval memory: the budget is the most int8 blocks within the memory", "[eval]") {
    // Over many lengths, shares, tails and head sizes: the kept layout (the whole tail in
    // full-precision blocks, whole int8 blocks before it) holds no more than eviction at the
    // same budget, and one more int8 block would hold more, or there is none left to keep.
    for (const int64_t d : {8, 64, 128})
        for (const char *spec : {"5%", "10%", "25%", "50%", "75%", "128"})
            for (const int32_t recent : {0, 32, 64, 100})
                for (int64_t length = 1; length <= 3000; length += 37) {
                    const cab_eval::KvGeometry kv{d, 16};
                    const auto memory = cab_eval::parse_budget(spec);
                    const auto b = cab_eval::quantized_budget(memory, length, recent, kv);
                    const int64_t target =
                        ceil_div(memory.tokens_kept(length), 16) * kv.full_block_bytes();
                    INFO("d " << d << ", budget " << spec << ", recent " << recent << ", length "
                              << length << ": " << b.tokens << " tokens");
                    REQUIRE(b.tokens <= length);
                    const int64_t tail = cab_eval::full_precision_tail(length, recent, 16);
                    const int64_t tail_bytes = ceil_div(tail, 16) * kv.full_block_bytes();
                    if (tail_bytes > target) {
                        // The tail does not fit: eviction's own count, nothing protected.
                        CHECK(b.tokens == memory.tokens_kept(length));
                        CHECK(b.recent == 0);
                        continue;
                    }
                    CHECK(b.recent == tail);
                    const int64_t q8 = b.tokens - b.recent;
                    REQUIRE(q8 % 16 == 0);
                    const int64_t held = tail_bytes + q8 / 16 * kv.q8_block_bytes();
                    CHECK(held <= target);
                    CHECK((held + kv.q8_block_bytes() > target || b.tokens == length));
                }
}

TEST_CASE("eval memory: the share counts full-precision blocks at their BF16 size", "[eval]") {
    cab_kv_stats held{};
    held.blocks_used = 4;
    held.q8_bytes_used = 52 * 2176;
    CHECK(cab_eval::memory_share(held, 64, kSmol) == Approx(129536.0 / 262144.0));
    held.q8_bytes_used = 0;
    held.blocks_used = 32;
    CHECK(cab_eval::memory_share(held, 64, kSmol) == 0.5);
}

TEST_CASE("eval config: quantize policies", "[eval]") {
    const auto plain = cab_eval::parse_policy("quantize");
    CHECK(plain.quantize);
    CHECK(plain.policy == "quantize");
    CHECK(plain.quantize_recent == -1);
    const auto tokens = cab_eval::parse_budget("128");
    CHECK(cab_eval::evict_params(plain, tokens, {}).quantize_recent == 64);  // the library's
    const auto recent = cab_eval::parse_policy("quantize:r32");
    CHECK(recent.quantize_recent == 32);
    CHECK(recent.label == "quantize:r32");
    CHECK(cab_eval::evict_params(recent, tokens, {}).quantize_recent == 32);
    CHECK(cab_eval::parse_policy("quantize:r0").quantize_recent == 0);
    const auto snap = cab_eval::parse_policy("quantize+snapkv:k15:s7:r16");
    CHECK(snap.quantize);
    CHECK(snap.policy == "quantize+snapkv");
    CHECK((snap.kernel == 15 && snap.shift == 7 && snap.quantize_recent == 16));
    const auto e = cab_eval::evict_params(snap, tokens, {});
    CHECK(std::string(e.policy) == "quantize+snapkv");
    CHECK(e.quantize_recent == 16);
    CHECK_FALSE(cab_eval::parse_policy("snapkv").quantize);
    CHECK_FALSE(snap.fp8);
    const auto fp8 = cab_eval::parse_policy("quantize:fp8");
    CHECK((fp8.quantize && fp8.fp8 && fp8.policy == "quantize" && fp8.label == "quantize:fp8"));
    const auto snap8 = cab_eval::parse_policy("quantize+snapkv:fp8:r32");
    CHECK((snap8.fp8 && snap8.policy == "quantize+snapkv" && snap8.quantize_recent == 32));
    CHECK(std::string(cab_eval::evict_params(snap8, tokens, {}).policy) == "quantize+snapkv");

    // Each bad spelling is an error naming it.
    for (const char *bad :
         {"quantize+", "quantize+:r8", "quantize:k15", "quantize:layer", "quantize:r",
          "quantize:r-1", "quantize:rx", "snapkv:r64", "quantize+snapkv:r99999999999", "snapkv:fp8",
          "full:fp8", "quantize:fp16", "quantize:FP8"}) {
        INFO(bad);
        try {
            cab_eval::parse_policy(bad);
            FAIL("accepted");
        } catch (const cab_eval::ConfigError &error) {
            CHECK(std::string(error.what()).find(std::string("'") + bad + "'") !=
                  std::string::npos);
        }
    }
}

TEST_CASE("eval runner: a policy the library does not know fails before any sample", "[eval]") {
    const cab_model *model = cab::test::eval_stories260k();
    cab_eval::EvalConfig config;
    config.out_path = (std::filesystem::temp_directory_path() / "cab-eval-test-unknown").string();
    config.tasks = {cab_eval::Task::passkey};
    config.lengths = {256};
    config.depths = {50};
    config.samples = 1;
    config.device = CAB_DEVICE_CPU;
    config.threads = 2;
    config.quiet = true;
    config.budgets = {cab_eval::parse_budget("50%")};
    for (const char *bad : {"quantize+nosuch", "quantize+quantize", "quantise"}) {
        INFO(bad);
        config.policies = {cab_eval::parse_policy(bad)};
        try {
            cab_eval::run_eval(model, config);
            FAIL("ran");
        } catch (const cab_eval::ConfigError &error) {
            const std::string message = error.what();
            CHECK(message.find(std::string("--policies ") + bad) != std::string::npos);
            CHECK(message.find("is not a policy") != std::string::npos);
        }
    }
    std::filesystem::remove(config.out_path);
}

TEST_CASE("eval runner: quantize cells hold the memory their budget gives", "[eval]") {
    const cab_model *model = cab::test::eval_stories260k();
    const cab_eval::ModelText text(model);
    // 300 tokens of stories260K's vocabulary after BOS.
    std::vector<cab_token> prompt = {1};
    for (int i = 1; i < 300; ++i) prompt.push_back(static_cast<cab_token>(3 + (i * 37) % 500));

    cab_eval::EvalConfig config;
    const auto half = cab_eval::parse_budget("50%");
    const auto all = cab_eval::parse_budget("100%");
    const auto snapkv = cab_eval::parse_policy("snapkv");
    const auto quantize = cab_eval::parse_policy("quantize");
    const auto quantize_snapkv = cab_eval::parse_policy("quantize+snapkv");
    const std::vector<cab_eval::CellSpec> cells = {
        {cab_eval::evict_params(snapkv, half, config), std::nullopt},
        {cab_eval::evict_params(quantize, all, config), std::nullopt},
        {cab_eval::evict_params(quantize_snapkv, half, config), half}};

    cab_ctx_params params;
    cab_ctx_default_params(&params);
    params.device = CAB_DEVICE_CPU;
    params.n_threads = 2;
    params.n_seq_max = 4;
    const int32_t b = params.kv_block_size;
    const auto tail = cab_eval::quantize_tail_budget(64, b);
    params.kv_capacity_tokens = cab_eval::kv_tokens_needed(300, 8, {half, tail, tail}, b);
    params.kv_q8_capacity_tokens = cab_eval::kv_q8_tokens_needed(300, 8, 2, b);
    cab_ctx *raw = nullptr;
    REQUIRE(cab_ctx_create(model, &params, &raw) == CAB_OK);
    const cab_eval::CtxPtr ctx(raw);

    const auto out = cab_eval::run_sample(ctx.get(), text, prompt, {}, cells, 8);
    // head_dim 8: a BF16 block 512 bytes, an int8 block 384; the dense cache 19 blocks (9728).
    const cab_eval::KvGeometry kv{text.info().head_dim, b};
    REQUIRE(kv.full_block_bytes() == 512);
    CHECK(out.dense.memory_share == 1.0);
    // snapkv at 50%: 150 tokens in 10 blocks.
    CHECK(out.cells[0].kept_tokens == 150.0);
    CHECK(out.cells[0].memory_share == Approx(10.0 / 19.0));
    CHECK(out.cells[0].quantized_tokens == 0.0);
    // quantize: 300 - 64 = 236 -> 14 whole blocks (224 tokens) to int8, a 76-token tail in 5.
    CHECK(out.cells[1].kept_tokens == 300.0);
    CHECK(out.cells[1].quantized_tokens == 224.0);
    CHECK(out.cells[1].memory_share == Approx((5 * 512 + 14 * 384) / 9728.0));
    // quantize+snapkv at 50%: the tail's 5 blocks and (5120 - 2560) / 384 = 6 int8 blocks:
    // 76 + 96 = 172 tokens, and exactly that layout in the cache (the tail kept whole).
    CHECK(out.cells[2].kept_tokens == 172.0);
    CHECK(out.cells[2].memory_share == Approx((5 * 512 + 6 * 384) / 9728.0));
    CHECK(out.cells[2].memory_share <= out.cells[0].memory_share);
    for (const auto &cell : out.cells) CHECK(cell.tokens.front() == out.dense.tokens.front());
}
