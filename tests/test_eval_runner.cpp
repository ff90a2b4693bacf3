// The harness's sample runner (eval/sample_run.h) on stories260K: the dense sequence decodes
// what llama2.c decodes, a cell whose budget keeps everything decodes the same from its
// cab_seq_copy, batched with the others, and a cell's budget is what it keeps.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config.h"
#include "eval_models.h"
#include "model_text.h"
#include "sample_run.h"

TEST_CASE("eval runner: dense and cells decode together from one prefill", "[eval]") {
    const cab_model *model = cab::test::eval_stories260k();
    const cab_eval::ModelText text(model);
    // From tools/golden/stories260k_reference.py (as in test_context.cpp): run.c's encoding of
    // "Once upon a time" with BOS, and its 30 greedy tokens.
    const std::vector<cab_token> prompt = {1, 403, 407, 261, 378};
    const std::vector<cab_token> expected = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317,
                                             426, 338, 401, 396, 267, 337, 410, 408, 419, 292,
                                             411, 322, 265, 282, 295, 433, 426, 385, 328, 432};

    cab_eval::EvalConfig config;
    const auto keep_all = cab_eval::parse_budget("100%");
    const auto two = cab_eval::parse_budget("2");
    const auto window = cab_eval::parse_policy("window");
    const auto snapkv = cab_eval::parse_policy("snapkv");
    const std::vector<cab_eval::CellSpec> cells = {
        {cab_eval::evict_params(window, keep_all, config), std::nullopt},
        {cab_eval::evict_params(snapkv, two, config), std::nullopt},
        {cab_eval::evict_params(snapkv, keep_all, config), std::nullopt}};

    cab_ctx_params params;
    cab_ctx_default_params(&params);
    params.device = CAB_DEVICE_CPU;
    params.n_threads = 2;
    params.n_seq_max = 5;  // the dense sequence, three cells and a delay's scratch sequence
    params.kv_capacity_tokens =
        cab_eval::kv_tokens_needed(static_cast<int64_t>(prompt.size()), 30,
                                   {keep_all, two, keep_all}, params.kv_block_size, 3);
    cab_ctx *raw = nullptr;
    REQUIRE(cab_ctx_create(model, &params, &raw) == CAB_OK);
    const cab_eval::CtxPtr ctx(raw);

    // Twice on the same context: the second sample starts from reset sequences.
    for (int run = 0; run < 2; ++run) {
        const auto out = cab_eval::run_sample(ctx.get(), text, prompt, {}, cells, 30);
        CHECK(out.dense.tokens == expected);
        CHECK(out.dense.kept_tokens == 5.0);
        REQUIRE(out.cells.size() == 3);
        CHECK(out.cells[0].tokens == expected);
        CHECK(out.cells[0].kept_tokens == 5.0);
        CHECK(out.cells[1].kept_tokens == 2.0);
        CHECK(out.cells[1].tokens.size() == 30);
        // Every cell starts from the prompt's logits: the first token is the dense one.
        CHECK(out.cells[1].tokens[0] == expected[0]);
        CHECK(out.cells[2].tokens == expected);
        // Every block is back in the pool for the next sample.
        cab_kv_stats kv{};
        kv.struct_size = sizeof(kv);
        REQUIRE(cab_kv_stats_get(ctx.get(), CAB_SEQ_ALL, &kv) == CAB_OK);
        CHECK(kv.blocks_used == 0);
    }

    // Delayed eviction: the dense answer's first 3 tokens come first, the cells are copied from
    // a prefill of the prompt and those tokens and evicted there; a cell that keeps everything
    // still decodes llama2.c's tokens, and the budget of 2 is what the cell keeps.
    const auto delayed = cab_eval::run_sample(ctx.get(), text, prompt, {0, 3}, cells, 30);
    CHECK(delayed.dense.tokens == expected);
    CHECK(delayed.cells[0].tokens == expected);
    CHECK(delayed.cells[0].kept_tokens == 8.0);
    CHECK(delayed.cells[1].kept_tokens == 2.0);
    CHECK(std::equal(expected.begin(), expected.begin() + 3, delayed.cells[1].tokens.begin()));
    CHECK(delayed.cells[1].tokens.size() == 30);
    CHECK(delayed.cells[2].tokens == expected);

    // Fewer tokens than asked when the answer ends: max_new_tokens bounds each sequence.
    const auto shortened = cab_eval::run_sample(ctx.get(), text, prompt, {}, cells, 3);
    CHECK(shortened.dense.tokens == std::vector<cab_token>(expected.begin(), expected.begin() + 3));
    CHECK(shortened.cells[0].tokens.size() == 3);
}

TEST_CASE("eval runner: the question window prefills the question as its own chunk", "[eval]") {
    const cab_model *model = cab::test::eval_stories260k();
    const cab_eval::ModelText text(model);
    const std::string question = "Where did the cat go?";
    const cab_eval::Prompt prompt = text.user_prompt("Once upon a time. " + question, "Answer:");
    const size_t start = text.question_start(prompt, question);
    // The tokens before it are the prompt's own tokenization of the text before the question.
    REQUIRE(start > 1);
    REQUIRE(start < prompt.tokens.size());
    CHECK(text.detokenize({prompt.tokens.begin() + 1, prompt.tokens.begin() + start}) ==
          "Once upon a time. ");
    CHECK(text.detokenize({prompt.tokens.begin() + start, prompt.tokens.end()}) ==
          question + "\nAnswer:");
    CHECK_THROWS(text.question_start(prompt, "Who was there?"));
    CHECK_THROWS(text.question_start(prompt, ""));

    // Two prefills, then cells from the copy: one that keeps all decodes as the dense one, and
    // snapkv keeps its window (the question chunk's last tokens) at a budget of 8.
    cab_eval::EvalConfig config;
    const auto keep_all = cab_eval::parse_budget("100%");
    const auto eight = cab_eval::parse_budget("8");
    const auto snapkv = cab_eval::parse_policy("snapkv");
    const std::vector<cab_eval::CellSpec> cells = {
        {cab_eval::evict_params(snapkv, keep_all, config), std::nullopt},
        {cab_eval::evict_params(snapkv, eight, config), std::nullopt}};
    cab_ctx_params params;
    cab_ctx_default_params(&params);
    params.device = CAB_DEVICE_CPU;
    params.n_threads = 2;
    params.n_seq_max = 3;
    params.score_window = 1024;
    params.kv_capacity_tokens = cab_eval::kv_tokens_needed(
        static_cast<int64_t>(prompt.tokens.size()), 8, {keep_all, eight}, params.kv_block_size);
    cab_ctx *raw = nullptr;
    REQUIRE(cab_ctx_create(model, &params, &raw) == CAB_OK);
    const cab_eval::CtxPtr ctx(raw);
    const auto out = cab_eval::run_sample(ctx.get(), text, prompt.tokens, {start, 0}, cells, 8);
    CHECK(out.dense.kept_tokens == static_cast<double>(prompt.tokens.size()));
    CHECK(out.cells[0].tokens == out.dense.tokens);
    CHECK(out.cells[1].kept_tokens == 8.0);
    CHECK(out.cells[1].tokens[0] == out.dense.tokens[0]);
}
