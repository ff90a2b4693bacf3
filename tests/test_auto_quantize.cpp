// Automatic eviction with the quantize policies on stories260K: plain "quantize" bounds every
// stream's full-precision tokens by quantize_recent + slack and evicts nothing; "quantize+<policy>"
// fires and bounds the tokens as any policy does. Both equal a plain context driven by hand with
// cab_evict at the documented points. And the errors: no int8 blocks, a slack that cannot hold the
// bound, and int8 blocks running out (KV_FULL, nothing lost).
#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "api/handles.h"
#include "evict_helpers.h"
#include "kv/stream.h"

using namespace cab;

namespace {

constexpr int32_t kBlock = 4, kChunk = 16;

const cab_model *stories() {
    static test::ModelPtr model = [] {
        const std::string path = test::models_path("stories260K.gguf");
        INFO(path << " is missing: run tools/prepare_models.sh");
        REQUIRE(test::file_exists(path));
        return test::load_c_model(path);
    }();
    return model.get();
}

int32_t n_vocab() {
    cab_model_info info{};
    info.struct_size = sizeof info;
    REQUIRE(cab_model_info_get(stories(), &info) == CAB_OK);
    return info.n_vocab;
}

// A story of `n` tokens (BOS first), n a multiple of kChunk so that every chunk is full.
std::vector<int32_t> story(size_t n) {
    const std::string sentences =
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
        "park with her dog Max. One day, she saw a big red ball under a tall tree. She ran to "
        "get it, but a bird flew down and sat on it. Lily laughed and said hello to the bird. ";
    std::string text;
    for (int i = 0; i < 12; ++i) text += sentences;
    std::vector<int32_t> tokens(text.size() + 1);
    size_t count = 0;
    REQUIRE(cab_tokenize(stories(), text.data(), text.size(), CAB_TOKENIZE_ADD_BOS, tokens.data(),
                         tokens.size(), &count) == CAB_OK);
    REQUIRE(count >= n);
    tokens.resize(n);
    return tokens;
}

// CPU, blocks of 4, chunks of 16, a score window of 8, room for 128 full-precision and 2048
// int8 tokens per stream.
cab_ctx_params ctx_params() {
    cab_ctx_params p;
    REQUIRE(cab_ctx_default_params(&p) == CAB_OK);
    p.device = CAB_DEVICE_CPU;
    p.n_threads = 2;
    p.kv_capacity_tokens = 128;
    p.kv_q8_capacity_tokens = 2048;
    p.kv_block_size = kBlock;
    p.prefill_chunk = kChunk;
    p.score_window = 8;
    return p;
}

int32_t streams(const cab_ctx *ctx) {
    const cab_kv_stats st = test::kv_stats(ctx, 0);
    return st.n_layer * st.n_head_kv;
}

// The most full-precision tokens a stream of sequence 0 holds, read from each stream's blocks:
// int8 block ids come after the full-precision pool's (kv/kv_cache.h), and a stream's int8
// blocks hold its first slots, packed.
int32_t longest_full_precision(const cab_ctx *ctx) {
    const cab_kv_stats st = test::kv_stats(ctx, 0);
    int32_t longest = 0;
    for (int32_t l = 0; l < st.n_layer; ++l)
        for (int32_t h = 0; h < st.n_head_kv; ++h) {
            const Stream &s = ctx->impl->kv_stream(0, l, h);
            const auto q8 = static_cast<int32_t>(
                std::count_if(s.blocks.begin(), s.blocks.end(),
                              [&](int32_t id) { return id >= st.blocks_total; }));
            longest = std::max(longest, s.length - std::min(s.length, q8 * st.block_size));
        }
    return longest;
}

std::vector<float> logits(cab_ctx *ctx) {
    return test::logits_of(ctx, n_vocab());
}

int32_t greedy(cab_ctx *ctx) {
    const std::vector<float> l = logits(ctx);
    return static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
}

void evict(cab_ctx *ctx, const cab_evict_params &e) {
    REQUIRE(cab_evict(ctx, 0, &e, nullptr) == CAB_OK);
}

// Every stream holds positions 0..length-1: nothing was evicted.
void check_nothing_lost(const cab_ctx *ctx) {
    const cab_kv_stats st = test::kv_stats(ctx, 0);
    CHECK(st.tokens_evicted == 0);
    CHECK(st.tokens_cached == st.seq_length * streams(ctx));
    std::vector<int32_t> all(static_cast<size_t>(st.seq_length));
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int32_t>(i);
    for (const std::vector<int32_t> &positions : test::all_positions(ctx, 0))
        REQUIRE(positions == all);
}

}  // namespace

TEST_CASE(
    "auto quantize: full-precision tokens stay within quantize_recent + slack, nothing is "
    "evicted, and it equals cab_evict('quantize') by hand at the documented points",
    "[auto][q8]") {
    // quantize_recent 24 (not the default 64, which would let streams reach 80 full-precision
    // tokens), slack 16: chunks of 16 stay whole, and quantizing leaves 24 full-precision tokens.
    const int32_t recent = 24, slack = 16, bound = recent + slack;
    cab_evict_params e = test::evict_params("quantize", 0);
    e.quantize_recent = recent;
    cab_ctx_params p = ctx_params();
    test::CtxPtr manual = test::make_c_ctx(stories(), p);
    p.auto_evict = &e;
    p.auto_evict_slack = slack;
    test::CtxPtr automatic = test::make_c_ctx(stories(), p);

    const std::vector<int32_t> prompt = story(320);
    REQUIRE(cab_prefill(automatic.get(), 0, prompt.data(), prompt.size()) == CAB_OK);
    // By hand: chunks of 16; before a chunk that would take a stream past the bound, quantize.
    for (size_t done = 0; done < prompt.size(); done += kChunk) {
        if (longest_full_precision(manual.get()) + kChunk > bound) evict(manual.get(), e);
        REQUIRE(cab_prefill(manual.get(), 0, prompt.data() + done, kChunk) == CAB_OK);
    }
    CHECK(longest_full_precision(automatic.get()) <= bound);
    check_nothing_lost(automatic.get());
    cab_kv_stats before = test::kv_stats(automatic.get(), 0);
    CHECK(before.q8_blocks_used * kBlock >= int64_t{streams(automatic.get())} * (320 - bound));
    CHECK(before.q8_blocks_used == test::kv_stats(manual.get(), 0).q8_blocks_used);
    CHECK(logits(automatic.get()) == logits(manual.get()));

    // Decode: quantize before a step that would take a stream past the bound.
    const cab_seq seq = 0;
    int grew = 0;
    for (int step = 0; step < 60; ++step) {
        const int32_t token = greedy(manual.get());
        if (longest_full_precision(manual.get()) + 1 > bound) evict(manual.get(), e);
        REQUIRE(cab_decode(manual.get(), &seq, &token, 1) == CAB_OK);
        REQUIRE(cab_decode(automatic.get(), &seq, &token, 1) == CAB_OK);
        INFO("decode step " << step);
        REQUIRE(longest_full_precision(automatic.get()) <= bound);
        const cab_kv_stats now = test::kv_stats(automatic.get(), 0);
        CHECK(now.q8_blocks_used >= before.q8_blocks_used);
        grew += now.q8_blocks_used > before.q8_blocks_used;
        before = now;
        CHECK(now.q8_blocks_used == test::kv_stats(manual.get(), 0).q8_blocks_used);
        REQUIRE(logits(automatic.get()) == logits(manual.get()));
    }
    CHECK(grew >= 60 / slack);  // a quantize at least every slack steps
    check_nothing_lost(automatic.get());
}

TEST_CASE("auto quantize: the bound holds for block-unaligned recent tokens, chunks and slacks",
          "[auto][q8]") {
    const std::vector<int32_t> prompt = story(320);
    for (const auto &[recent, slack, chunk] :
         std::vector<std::array<int32_t, 3>>{{0, 4, 16}, {22, 5, 16}, {13, 9, 7}, {30, 64, 512}}) {
        INFO("quantize_recent " << recent << ", slack " << slack << ", prefill_chunk " << chunk);
        cab_evict_params e = test::evict_params("quantize", 0);
        e.quantize_recent = recent;
        cab_ctx_params p = ctx_params();
        p.prefill_chunk = chunk;
        p.auto_evict = &e;
        p.auto_evict_slack = slack;
        test::CtxPtr ctx = test::make_c_ctx(stories(), p);
        // The prompt in two calls, so the second one starts from a quantized sequence.
        REQUIRE(cab_prefill(ctx.get(), 0, prompt.data(), 200) == CAB_OK);
        CHECK(longest_full_precision(ctx.get()) <= recent + slack);
        REQUIRE(cab_prefill(ctx.get(), 0, prompt.data() + 200, 120) == CAB_OK);
        CHECK(longest_full_precision(ctx.get()) <= recent + slack);
        const cab_seq seq = 0;
        for (int step = 0; step < 40; ++step) {
            const int32_t token = greedy(ctx.get());
            REQUIRE(cab_decode(ctx.get(), &seq, &token, 1) == CAB_OK);
            REQUIRE(longest_full_precision(ctx.get()) <= recent + slack);
        }
        // Quantizing leaves fewer than recent + block_size tokens in full precision.
        CHECK(longest_full_precision(ctx.get()) >= recent);
        check_nothing_lost(ctx.get());
    }
}

TEST_CASE(
    "auto quantize+snapkv: tokens stay within budget + slack, and it equals cab_evict by "
    "hand at the documented points",
    "[auto][q8]") {
    const int32_t budget = 32, slack = 16;
    cab_evict_params e = test::evict_params("quantize+snapkv", budget);
    e.quantize_recent = 8;
    e.snapkv_window = 8;
    cab_ctx_params p = ctx_params();
    test::CtxPtr manual = test::make_c_ctx(stories(), p);
    p.auto_evict = &e;
    p.auto_evict_slack = slack;
    test::CtxPtr automatic = test::make_c_ctx(stories(), p);

    const std::vector<int32_t> prompt = story(320);
    REQUIRE(cab_prefill(automatic.get(), 0, prompt.data(), prompt.size()) == CAB_OK);
    // By hand: chunks of 16; before a chunk that would pass budget + slack (tokens of both
    // types), evict; snapkv is question-aware, so once more after the last chunk.
    for (size_t done = 0; done < prompt.size(); done += kChunk) {
        if (test::kv_stats(manual.get(), 0).stream_max + kChunk > budget + slack)
            evict(manual.get(), e);
        REQUIRE(cab_prefill(manual.get(), 0, prompt.data() + done, kChunk) == CAB_OK);
    }
    evict(manual.get(), e);
    CHECK(test::all_positions(automatic.get(), 0) == test::all_positions(manual.get(), 0));
    CHECK(logits(automatic.get()) == logits(manual.get()));
    const cab_kv_stats after_prompt = test::kv_stats(automatic.get(), 0);
    CHECK(after_prompt.stream_max == budget);
    CHECK(after_prompt.q8_blocks_used > 0);
    CHECK(after_prompt.tokens_evicted > 0);

    const cab_seq seq = 0;
    for (int step = 0; step < 60; ++step) {
        const int32_t token = greedy(manual.get());
        if (test::kv_stats(manual.get(), 0).stream_max + 1 > budget + slack) evict(manual.get(), e);
        REQUIRE(cab_decode(manual.get(), &seq, &token, 1) == CAB_OK);
        REQUIRE(cab_decode(automatic.get(), &seq, &token, 1) == CAB_OK);
        INFO("decode step " << step);
        const cab_kv_stats st = test::kv_stats(automatic.get(), 0);
        REQUIRE(st.stream_max <= budget + slack);
        CHECK(st.q8_blocks_used == test::kv_stats(manual.get(), 0).q8_blocks_used);
        CHECK(test::all_positions(automatic.get(), 0) == test::all_positions(manual.get(), 0));
        REQUIRE(logits(automatic.get()) == logits(manual.get()));
    }
}

TEST_CASE(
    "auto quantize: creation errors name the fields, and a plain quantize budget bounds nothing",
    "[auto][q8]") {
    cab_ctx *raw = nullptr;
    for (const char *policy : {"quantize", "quantize+snapkv", "quantize+full"}) {
        INFO(policy);
        cab_evict_params e = test::evict_params(policy, 32);
        cab_ctx_params p = ctx_params();
        p.auto_evict = &e;
        p.kv_q8_capacity_tokens = 0;
        CHECK(cab_ctx_create(stories(), &p, &raw) == CAB_ERR_INVALID_ARGUMENT);
        CHECK(test::error_mentions("auto_evict: policy '" + std::string(policy) + "'"));
        CHECK(test::error_mentions("kv_q8_capacity_tokens is 0"));
        CHECK(raw == nullptr);
    }

    cab_evict_params e = test::evict_params("quantize", 1 << 20);  // far past the pool: unused
    e.quantize_recent = 32;
    cab_ctx_params p = ctx_params();
    p.auto_evict = &e;
    p.auto_evict_slack = kBlock;
    test::make_c_ctx(stories(), p);

    p.auto_evict_slack = kBlock - 1;  // quantizing whole blocks may leave no room for a token
    CHECK(cab_ctx_create(stories(), &p, &raw) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("auto_evict_slack 3 must be at least kv_block_size 4"));
    // quantize+<policy> bounds the tokens by its budget instead: any slack goes.
    e.policy = "quantize+window";
    e.budget_tokens = 32;
    test::make_c_ctx(stories(), p);

    e.policy = "quantize";
    p.auto_evict_slack = 97;  // 32 + 97 > 128
    CHECK(cab_ctx_create(stories(), &p, &raw) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(
        test::error_mentions("quantize_recent 32 + auto_evict_slack 97 exceed kv_capacity_tokens"));
    CHECK(raw == nullptr);
}

TEST_CASE("auto quantize: when the int8 blocks run out, KV_FULL names them and nothing is lost",
          "[auto][q8]") {
    cab_evict_params e = test::evict_params("quantize", 0);
    e.quantize_recent = 8;
    cab_ctx_params p = ctx_params();
    p.kv_q8_capacity_tokens = 64;
    p.auto_evict = &e;
    p.auto_evict_slack = 8;
    const std::vector<int32_t> prompt = story(320);

    SECTION("prefill: the chunks done stay, quantized as far as the int8 blocks went") {
        test::CtxPtr ctx = test::make_c_ctx(stories(), p);
        CHECK(cab_prefill(ctx.get(), 0, prompt.data(), prompt.size()) == CAB_ERR_KV_FULL);
        CHECK(test::error_mentions("int8 blocks (kv_q8_capacity_tokens 64) are full"));
        CHECK(test::error_mentions("of the 320 prompt tokens were prefilled and stay"));
        const cab_kv_stats st = test::kv_stats(ctx.get(), 0);
        CHECK(st.seq_length > 64);
        CHECK(st.seq_length < 320);
        CHECK(st.q8_blocks_free == 0);
        CHECK(longest_full_precision(ctx.get()) <= 16);
        check_nothing_lost(ctx.get());
    }
    SECTION("decode: the step fails and the sequence is as it was") {
        test::CtxPtr ctx = test::make_c_ctx(stories(), p);
        REQUIRE(cab_prefill(ctx.get(), 0, prompt.data(), 48) == CAB_OK);
        const cab_seq seq = 0;
        cab_status status = CAB_OK;
        for (int step = 0; step < 100 && status == CAB_OK; ++step) {
            const int32_t token = greedy(ctx.get());
            const cab_kv_stats before = test::kv_stats(ctx.get(), 0);
            const std::vector<float> last = logits(ctx.get());
            status = cab_decode(ctx.get(), &seq, &token, 1);
            if (status == CAB_OK) continue;
            CHECK(status == CAB_ERR_KV_FULL);
            CHECK(test::error_mentions("int8 blocks (kv_q8_capacity_tokens 64) are full"));
            const cab_kv_stats after = test::kv_stats(ctx.get(), 0);
            CHECK(std::memcmp(&after, &before, sizeof after) == 0);
            CHECK(logits(ctx.get()) == last);
        }
        CHECK(status == CAB_ERR_KV_FULL);
        CHECK(test::kv_stats(ctx.get(), 0).q8_blocks_free == 0);
        check_nothing_lost(ctx.get());
        // The caller decides what goes: an explicit eviction makes room and decoding goes on.
        cab_evict_params window = test::evict_params("window", 16);
        evict(ctx.get(), window);
        const int32_t token = greedy(ctx.get());
        CHECK(cab_decode(ctx.get(), &seq, &token, 1) == CAB_OK);
    }
}
