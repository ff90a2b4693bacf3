// cab_seq_copy on the CPU backend: a copy is the original's state (KV streams, scores,
// positions, eviction count, history, logits) and goes on exactly as the original would; the
// two are independent afterwards; KV_FULL and bad arguments change nothing; an empty source
// empties the destination. Below the API: tests/test_kv_copy.cpp.
#include <algorithm>
#include <cstdint>
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

int32_t n_vocab() {
    cab_model_info info{};
    info.struct_size = sizeof info;
    REQUIRE(cab_model_info_get(tiny_llama(), &info) == CAB_OK);
    return info.n_vocab;
}

test::CtxPtr make_ctx(int32_t n_seq_max, int64_t capacity) {
    cab_ctx_params p = test::small_ctx_params(capacity);
    p.n_seq_max = n_seq_max;
    return test::make_c_ctx(tiny_llama(), p);
}

std::vector<int32_t> prompt(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    return test::random_tokens(rng, n, n_vocab());
}

void prefill(cab_ctx *ctx, cab_seq seq, const std::vector<int32_t> &tokens) {
    const cab_status st = cab_prefill(ctx, seq, tokens.data(), tokens.size());
    INFO(cab_last_error());
    REQUIRE(st == CAB_OK);
}

void decode(cab_ctx *ctx, cab_seq seq, cab_token token) {
    const cab_status st = cab_decode(ctx, &seq, &token, 1);
    INFO(cab_last_error());
    REQUIRE(st == CAB_OK);
}

void copy(cab_ctx *ctx, cab_seq src, cab_seq dst) {
    const cab_status st = cab_seq_copy(ctx, src, dst);
    INFO(cab_last_error());
    REQUIRE(st == CAB_OK);
}

// A copy of the sequence's logits; empty when it has none (STATE).
std::vector<float> logits(cab_ctx *ctx, cab_seq seq) {
    const float *l = nullptr;
    const cab_status st = cab_logits(ctx, seq, &l);
    if (st == CAB_ERR_STATE) return {};
    REQUIRE(st == CAB_OK);
    return std::vector<float>(l, l + n_vocab());
}

cab_token greedy(cab_ctx *ctx, cab_seq seq) {
    cab_token t = -1;
    REQUIRE(cab_sample(ctx, seq, nullptr, &t) == CAB_OK);
    return t;
}

// Everything observable about one sequence through the C API.
struct SeqState {
    int64_t length = 0;
    std::vector<int64_t> stats;  // the per-sequence fields of cab_kv_stats
    std::vector<std::vector<int32_t>> positions;
    std::vector<std::vector<float>> score, observers, window;  // per stream
    std::vector<float> logits;

    bool operator==(const SeqState &o) const {
        return length == o.length && stats == o.stats && positions == o.positions &&
               score == o.score && observers == o.observers && window == o.window &&
               logits == o.logits;
    }
};

SeqState state(cab_ctx *ctx, cab_seq seq) {
    SeqState s;
    REQUIRE(cab_seq_length(ctx, seq, &s.length) == CAB_OK);
    const cab_kv_stats st = test::kv_stats(ctx, seq);
    s.stats = {st.seq_length,
               st.tokens_cached,
               st.stream_min,
               st.stream_max,
               st.tokens_evicted,
               st.blocks_used,
               static_cast<int64_t>(st.bytes_used)};
    s.positions = test::all_positions(ctx, seq);
    for (int32_t l = 0; l < st.n_layer; ++l)
        for (int32_t h = 0; h < st.n_head_kv; ++h) {
            size_t n = 0;
            const cab_status q = cab_kv_scores(ctx, seq, l, h, nullptr, nullptr, nullptr, 0, &n);
            REQUIRE((q == CAB_OK || q == CAB_ERR_BUFFER_TOO_SMALL));
            std::vector<float> score(n), observers(n), window(n);
            REQUIRE(cab_kv_scores(ctx, seq, l, h, score.data(), observers.data(), window.data(), n,
                                  &n) == CAB_OK);
            s.score.push_back(score);
            s.observers.push_back(observers);
            s.window.push_back(window);
        }
    s.logits = logits(ctx, seq);
    return s;
}

// The sum of every stream's score: a copy that lost or zeroed the scores shows here.
double total_score(const SeqState &s) {
    double total = 0.0;
    for (const auto &stream : s.score)
        for (float x : stream) total += x;
    return total;
}

}  // namespace

TEST_CASE("cab_seq_copy: the copy is the original and decodes exactly as a never-copied run",
          "[seq_copy][api]") {
    test::CtxPtr ctx = make_ctx(3, 256);
    const std::vector<int32_t> p = prompt(37, 1);
    prefill(ctx.get(), 0, p);
    prefill(ctx.get(), 2, p);  // the reference: the same prompt, never copied
    copy(ctx.get(), 0, 1);

    const SeqState original = state(ctx.get(), 0);
    CHECK(state(ctx.get(), 1) == original);
    CHECK(state(ctx.get(), 2) == original);
    CHECK(original.length == 37);
    CHECK(total_score(original) > 0.0);
    CHECK(original.logits.size() == static_cast<size_t>(n_vocab()));
    // dst holds its own blocks: the pool lost as many as src uses.
    const cab_kv_stats all = test::kv_stats(ctx.get(), CAB_SEQ_ALL);
    CHECK(all.blocks_free == all.blocks_total - 3 * original.stats[5]);

    for (int step = 0; step < 4; ++step) {
        INFO("step " << step);
        const cab_token t = greedy(ctx.get(), 2);
        CHECK(greedy(ctx.get(), 0) == t);
        CHECK(greedy(ctx.get(), 1) == t);
        decode(ctx.get(), 2, t);
        decode(ctx.get(), 0, t);
        decode(ctx.get(), 1, t);
        const std::vector<float> ref = logits(ctx.get(), 2);
        CHECK(logits(ctx.get(), 0) == ref);
        CHECK(logits(ctx.get(), 1) == ref);
    }
    CHECK(state(ctx.get(), 1) == state(ctx.get(), 2));
}

TEST_CASE("cab_seq_copy: logits still on the device after a decode step are copied too",
          "[seq_copy][api]") {
    test::CtxPtr ctx = make_ctx(3, 256);
    const std::vector<int32_t> p = prompt(21, 2);
    const cab_token t = 17, u = 99;
    prefill(ctx.get(), 2, p);
    decode(ctx.get(), 2, t);
    const std::vector<float> after_t = logits(ctx.get(), 2);
    decode(ctx.get(), 2, u);
    const std::vector<float> after_u = logits(ctx.get(), 2);

    prefill(ctx.get(), 0, p);
    decode(ctx.get(), 0, t);  // its logits stay in the step's output until asked for
    copy(ctx.get(), 0, 1);
    SECTION("both read them") {
        CHECK(greedy(ctx.get(), 1) == greedy(ctx.get(), 0));
        CHECK(logits(ctx.get(), 1) == after_t);
        CHECK(logits(ctx.get(), 0) == after_t);
    }
    SECTION("decoding the original leaves the copy's") {
        decode(ctx.get(), 0, u);
        CHECK(logits(ctx.get(), 1) == after_t);
        CHECK(logits(ctx.get(), 0) == after_u);
    }
    SECTION("decoding the copy leaves the original's") {
        decode(ctx.get(), 1, u);
        CHECK(logits(ctx.get(), 0) == after_t);
        CHECK(logits(ctx.get(), 1) == after_u);
    }
    SECTION("a batch of both") {
        const cab_seq seqs[] = {1, 0};
        const cab_token tokens[] = {u, u};
        REQUIRE(cab_decode(ctx.get(), seqs, tokens, 2) == CAB_OK);
        CHECK(logits(ctx.get(), 0) == logits(ctx.get(), 1));
        CHECK(greedy(ctx.get(), 0) == greedy(ctx.get(), 1));
    }
}

TEST_CASE("cab_seq_copy: evicting and decoding the copy leave the original as it was",
          "[seq_copy][api]") {
    test::CtxPtr ctx = make_ctx(3, 256);
    const std::vector<int32_t> p = prompt(60, 3);
    prefill(ctx.get(), 0, p);
    prefill(ctx.get(), 2, p);
    copy(ctx.get(), 0, 1);
    const SeqState before = state(ctx.get(), 0);
    const int64_t free_before = test::kv_stats(ctx.get(), CAB_SEQ_ALL).blocks_free;

    cab_evict_params e = test::evict_params("h2o", 16);
    cab_evict_report r{};
    r.struct_size = sizeof r;
    REQUIRE(cab_evict(ctx.get(), 1, &e, &r) == CAB_OK);
    CHECK(r.tokens_evicted > 0);
    CHECK(r.blocks_freed > 0);
    CHECK(test::kv_stats(ctx.get(), CAB_SEQ_ALL).blocks_free == free_before + r.blocks_freed);
    const cab_kv_stats dst = test::kv_stats(ctx.get(), 1);
    CHECK(dst.stream_max == 16);
    CHECK(dst.tokens_evicted == r.tokens_evicted);
    decode(ctx.get(), 1, 5);
    decode(ctx.get(), 1, 6);
    CHECK(state(ctx.get(), 0) == before);

    // The original goes on exactly as the never-copied reference.
    decode(ctx.get(), 0, 5);
    decode(ctx.get(), 2, 5);
    CHECK(logits(ctx.get(), 0) == logits(ctx.get(), 2));
    CHECK(state(ctx.get(), 0) == state(ctx.get(), 2));

    // And evicting the original leaves the copy.
    const SeqState copy_now = state(ctx.get(), 1);
    REQUIRE(cab_evict(ctx.get(), 0, &e, nullptr) == CAB_OK);
    CHECK(state(ctx.get(), 1) == copy_now);
}

TEST_CASE("cab_seq_copy: a copy of an evicted sequence keeps its cache and eviction count",
          "[seq_copy][api]") {
    test::CtxPtr ctx = make_ctx(2, 256);
    prefill(ctx.get(), 0, prompt(50, 4));
    // Per-head h2o: the streams keep different positions.
    cab_evict_params e = test::evict_params("h2o", 20);
    REQUIRE(cab_evict(ctx.get(), 0, &e, nullptr) == CAB_OK);
    const SeqState evicted = state(ctx.get(), 0);
    REQUIRE(evicted.stats[4] > 0);  // tokens_evicted
    REQUIRE(std::count(evicted.positions.begin(), evicted.positions.end(),
                       evicted.positions.front()) < static_cast<long>(evicted.positions.size()));
    // dst had a longer history of its own, which the copy replaces.
    prefill(ctx.get(), 1, prompt(70, 5));
    copy(ctx.get(), 0, 1);
    CHECK(state(ctx.get(), 1) == evicted);
    for (cab_token t : {3, 141, 59}) {
        decode(ctx.get(), 0, t);
        decode(ctx.get(), 1, t);
        CHECK(logits(ctx.get(), 1) == logits(ctx.get(), 0));
    }
    CHECK(state(ctx.get(), 1) == state(ctx.get(), 0));
}

TEST_CASE("cab_seq_copy: KV_FULL leaves both sequences and the pool as they were",
          "[seq_copy][api]") {
    // 10 blocks of 4 tokens per stream: src uses 5, dst 3, 2 are free.
    test::CtxPtr ctx = make_ctx(2, 40);
    prefill(ctx.get(), 0, prompt(20, 6));
    prefill(ctx.get(), 1, prompt(12, 7));
    const SeqState src = state(ctx.get(), 0), dst = state(ctx.get(), 1);
    const int64_t free_before = test::kv_stats(ctx.get(), CAB_SEQ_ALL).blocks_free;

    CHECK(cab_seq_copy(ctx.get(), 0, 1) == CAB_ERR_KV_FULL);
    CHECK(test::error_mentions("KV cache full"));
    CHECK(state(ctx.get(), 1) == dst);
    CHECK(state(ctx.get(), 0) == src);
    CHECK(test::kv_stats(ctx.get(), CAB_SEQ_ALL).blocks_free == free_before);
    // dst still works.
    decode(ctx.get(), 1, 8);

    // With dst's blocks back in the pool the copy fits exactly.
    REQUIRE(cab_seq_reset(ctx.get(), 1) == CAB_OK);
    copy(ctx.get(), 0, 1);
    CHECK(state(ctx.get(), 1) == src);
    CHECK(test::kv_stats(ctx.get(), CAB_SEQ_ALL).blocks_free == 0);
}

TEST_CASE("cab_seq_copy: bad arguments are INVALID_ARGUMENT naming them and change nothing",
          "[seq_copy][api]") {
    test::CtxPtr ctx = make_ctx(2, 128);
    prefill(ctx.get(), 0, prompt(9, 8));
    prefill(ctx.get(), 1, prompt(5, 9));
    const SeqState a = state(ctx.get(), 0), b = state(ctx.get(), 1);

    CHECK(cab_seq_copy(ctx.get(), 0, 0) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("src and dst are both sequence 0"));
    CHECK(cab_seq_copy(ctx.get(), -1, 1) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("src = -1"));
    CHECK(cab_seq_copy(ctx.get(), CAB_SEQ_ALL, 1) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(cab_seq_copy(ctx.get(), 2, 1) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("src = 2"));
    CHECK(cab_seq_copy(ctx.get(), 0, 2) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("dst = 2"));
    CHECK(cab_seq_copy(ctx.get(), 1, -5) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("dst = -5"));
    CHECK(cab_seq_copy(nullptr, 0, 1) == CAB_ERR_INVALID_ARGUMENT);
    CHECK(test::error_mentions("ctx"));
    CHECK(state(ctx.get(), 0) == a);
    CHECK(state(ctx.get(), 1) == b);
}

TEST_CASE("cab_seq_copy: copying an empty sequence empties dst", "[seq_copy][api]") {
    test::CtxPtr ctx = make_ctx(3, 128);
    const std::vector<int32_t> p = prompt(13, 10);
    prefill(ctx.get(), 1, prompt(30, 11));
    copy(ctx.get(), 2, 1);  // 2 was never used
    const SeqState empty = state(ctx.get(), 1);
    CHECK(empty == state(ctx.get(), 2));
    CHECK(empty.length == 0);
    CHECK(empty.logits.empty());
    CHECK(empty.stats[1] == 0);  // tokens_cached
    CHECK(empty.stats[5] == 0);  // blocks_used
    const float *l = nullptr;
    CHECK(cab_logits(ctx.get(), 1, &l) == CAB_ERR_STATE);
    const cab_kv_stats all = test::kv_stats(ctx.get(), CAB_SEQ_ALL);
    CHECK(all.blocks_free == all.blocks_total);

    // dst starts again at position 0, like a fresh sequence.
    prefill(ctx.get(), 1, p);
    prefill(ctx.get(), 0, p);
    CHECK(state(ctx.get(), 1) == state(ctx.get(), 0));
}

TEST_CASE("cab_seq_copy: a seeded sampler continues the copy as it does the original",
          "[seq_copy][api]") {
    test::CtxPtr ctx = make_ctx(2, 256);
    prefill(ctx.get(), 0, prompt(24, 12));
    copy(ctx.get(), 0, 1);
    cab_sampler_params sp;
    REQUIRE(cab_sampler_default_params(&sp) == CAB_OK);
    sp.temperature = 0.9f;
    sp.top_k = 40;
    sp.repeat_penalty = 1.5f;  // reads each sequence's history
    sp.seed = 7;
    cab_sampler *a = nullptr, *b = nullptr;
    REQUIRE(cab_sampler_create(&sp, &a) == CAB_OK);
    REQUIRE(cab_sampler_create(&sp, &b) == CAB_OK);
    std::vector<cab_token> out_a, out_b;
    for (int step = 0; step < 8; ++step) {
        cab_token ta = -1, tb = -1;
        REQUIRE(cab_sample(ctx.get(), 0, a, &ta) == CAB_OK);
        REQUIRE(cab_sample(ctx.get(), 1, b, &tb) == CAB_OK);
        out_a.push_back(ta);
        out_b.push_back(tb);
        decode(ctx.get(), 0, ta);
        decode(ctx.get(), 1, tb);
    }
    cab_sampler_free(a);
    cab_sampler_free(b);
    CHECK(out_a == out_b);
}

TEST_CASE("cab_seq_copy: under automatic eviction the copy evicts as the original does",
          "[seq_copy][api]") {
    cab_ctx_params p = test::small_ctx_params(256);
    p.n_seq_max = 2;
    cab_evict_params e = test::evict_params("h2o", 16);
    p.auto_evict = &e;
    p.auto_evict_slack = 4;
    test::CtxPtr ctx = test::make_c_ctx(tiny_llama(), p);
    prefill(ctx.get(), 0, prompt(40, 13));
    copy(ctx.get(), 0, 1);
    CHECK(state(ctx.get(), 1) == state(ctx.get(), 0));
    for (int step = 0; step < 12; ++step) {
        INFO("step " << step);
        const cab_token t = greedy(ctx.get(), 0);
        decode(ctx.get(), 0, t);
        decode(ctx.get(), 1, t);
        CHECK(state(ctx.get(), 1) == state(ctx.get(), 0));
    }
    const cab_kv_stats st = test::kv_stats(ctx.get(), 1);
    CHECK(st.tokens_evicted > 0);
    CHECK(st.stream_max <= 16 + 4);
}
